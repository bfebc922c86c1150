package PxTest::JWT;

=head1 NAME

PxTest::JWT - keys, JWKs and signed JWTs for the jwt_auth tests, made with the openssl tool

=head1 SYNOPSIS

    my $j = PxTest::JWT->new;                    # keys in a fresh temp dir
    $j->key('r1', 'rsa');                        # rsa, p256, p384, ed25519
    my $pem = $j->pub('r1');                     # path of the public key (PEM)
    my $jwks = $j->jwks(['r1', kid => 'r1'], ['e1']);   # a JWK Set text
    my $t = $j->token(alg => 'RS256', key => 'r1', kid => 'r1', claims => { sub => 'alice' });
    my $h = $j->token(alg => 'HS256', secret => 'x' x 32, claims => { sub => 'bob' });

=head1 TOKENS

C<token(alg, key | secret, kid, header, claims, sig)>: C<header> and C<claims> are hashrefs
(encoded as canonical JSON) or JSON texts taken as they are; C<header> defaults to
C<{alg, kid}>. The signature is made with C<openssl dgst -sign> (RSA PKCS#1 v1.5, RSA-PSS with
a salt as long as the digest, ECDSA, whose DER signature is turned into JWS's raw r||s) or
C<openssl pkeyutl -rawin> (Ed25519); HMAC with core Perl's Digest::SHA. C<< sig => 'none' >>
leaves the signature part empty. C<alg> is only the header's: any alg may be claimed with any
key, to test confusion.

=cut

use strict;
use warnings;
use Digest::SHA ();
use JSON::PP ();
use MIME::Base64 qw(encode_base64url);

my %genpkey = (
    rsa => [qw(-algorithm RSA -pkeyopt rsa_keygen_bits:2048)],
    p256 => [qw(-algorithm EC -pkeyopt ec_paramgen_curve:P-256)],
    p384 => [qw(-algorithm EC -pkeyopt ec_paramgen_curve:P-384)],
    ed25519 => [qw(-algorithm ED25519)],
);

sub new {
    my ($class) = @_;
    return bless { dir => PxTest::subdir('jwt'), type => {}, json => JSON::PP->new->canonical },
        $class;
}


sub _openssl {
    my (@args) = @_;
    my $r = PxTest::run_cmd(['openssl', @args]);
    die "openssl @args: exit $r->{exit}: $r->{err}" if $r->{exit};
    return $r->{out};
}

sub _slurp {
    my ($path) = @_;
    open my $f, '<:raw', $path or die "$path: $!";
    local $/;
    return scalar <$f>;
}

sub _spew {
    my ($path, $bytes) = @_;
    open my $f, '>:raw', $path or die "$path: $!";
    print $f $bytes;
    close $f or die "$path: $!";
}

# Make key NAME of TYPE (rsa, p256, p384, ed25519): NAME.key and NAME.pub in dir.
sub key {
    my ($self, $name, $type) = @_;
    my $d = $self->{dir};
    my $how = $genpkey{$type} // die "unknown key type $type";
    _openssl('genpkey', @$how, '-out', "$d/$name.key");
    _openssl('pkey', '-in', "$d/$name.key", '-pubout', '-out', "$d/$name.pub");
    $self->{type}{$name} = $type;
    return $self;
}

sub pub { return "$_[0]{dir}/$_[1].pub" }
sub private { return "$_[0]{dir}/$_[1].key" }

# The public key's JWK, as a hashref (kid and other members from %extra).
sub jwk {
    my ($self, $name, %extra) = @_;
    my $type = $self->{type}{$name} // die "no key $name";
    my $pub = $self->pub($name);
    my %k;
    if ($type eq 'rsa') {
        my ($n) = _openssl('rsa', '-pubin', '-in', $pub, '-noout', '-modulus')
            =~ /Modulus=([0-9A-F]+)/;
        my ($e) = _openssl('rsa', '-pubin', '-in', $pub, '-noout', '-text') =~ /Exponent: (\d+)/;
        my $eb = pack('N', $e) =~ s/^\0+//r;
        %k = (kty => 'RSA', n => encode_base64url(pack('H*', $n)), e => encode_base64url($eb));
    } else {
        my $der = _openssl('pkey', '-pubin', '-in', $pub, '-outform', 'DER');
        if ($type eq 'ed25519') {
            %k = (kty => 'OKP', crv => 'Ed25519', x => encode_base64url(substr($der, -32)));
        } else {
            my $size = $type eq 'p256' ? 32 : 48;
            my $pt = substr($der, -(2 * $size));
            %k = (kty => 'EC', crv => $type eq 'p256' ? 'P-256' : 'P-384',
                x => encode_base64url(substr($pt, 0, $size)),
                y => encode_base64url(substr($pt, $size)));
        }
    }
    return { %k, %extra };
}

# A JWK Set text: each argument is [NAME, member => value, ...] or a hashref JWK as it is.
sub jwks {
    my ($self, @keys) = @_;
    my @jwks = map { ref $_ eq 'HASH' ? $_ : $self->jwk(@$_) } @keys;
    return $self->{json}->encode({ keys => \@jwks });
}


# DER ECDSA-Sig-Value -> r||s, each left-padded to $size bytes.
sub _der_to_raw {
    my ($der, $size) = @_;
    my @b = unpack('C*', $der);
    my $i = 1;
    $i += ($b[$i] & 0x80) ? 1 + ($b[$i] & 0x7f) : 1;    # SEQUENCE length
    my $raw = '';
    for (1 .. 2) {
        die "bad DER signature" unless $b[$i++] == 0x02;
        my $len = $b[$i++];
        my $int = pack('C*', @b[$i .. $i + $len - 1]) =~ s/^\0+//r;
        $i += $len;
        $raw .= ("\0" x ($size - length $int)) . $int;
    }
    return $raw;
}

my %hmac = (HS256 => \&Digest::SHA::hmac_sha256, HS384 => \&Digest::SHA::hmac_sha384,
    HS512 => \&Digest::SHA::hmac_sha512);

sub _sign {
    my ($self, $alg, %o) = @_;
    my ($family, $bits) = $alg =~ /^(HS|RS|PS|ES|EdDSA)(\d*)$/ or die "alg $alg";
    return $hmac{"HS$bits"}->($o{input}, $o{secret}) if $family eq 'HS';
    my $in = "$self->{dir}/in";
    _spew($in, $o{input});
    my $key = $self->private($o{key} // die "$alg needs a key");
    if ($family eq 'EdDSA') {
        _openssl('pkeyutl', '-sign', '-inkey', $key, '-rawin', '-in', $in, '-out', "$in.sig");
        return _slurp("$in.sig");
    }
    my @pss = $family eq 'PS'
        ? ('-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:digest') : ();
    _openssl('dgst', "-sha$bits", '-sign', $key, @pss, '-out', "$in.sig", $in);
    my $sig = _slurp("$in.sig");
    return $family eq 'ES' ? _der_to_raw($sig, $bits == 256 ? 32 : 48) : $sig;
}

sub token {
    my ($self, %o) = @_;
    my $alg = $o{alg} // die "token needs alg";
    my $header = $o{header} // { alg => $alg, defined $o{kid} ? (kid => $o{kid}) : () };
    my $claims = $o{claims} // {};
    my $input = join('.', map { encode_base64url(ref $_ ? $self->{json}->encode($_) : $_) }
        $header, $claims);
    return "$input." if ($o{sig} // '') eq 'none';
    my $sig_alg = $o{sign_as} // $alg;
    return "$input." . encode_base64url($self->_sign($sig_alg, %o, input => $input));
}

1;
