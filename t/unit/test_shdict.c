/*
 * test_shdict.c: shared dictionaries: every operation, value types, ttl on an injected clock,
 * LRU eviction under the cap, keys() order, the registry across reloads, and threads.
 */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "px_log.h"
#include "px_shdict.h"
#include "px_tap.h"

#define K(s) (s), strlen(s)
#define NS   1000000000LL

/* The test clock: moves 1 us per reading (so uses are ordered), and by whole seconds when a
 * test says so. */
static int64_t fake_now = 1000 * NS;

static int64_t fake_clock(void)
{
    return fake_now += 1000;
}

static void advance(double seconds)
{
    fake_now += (int64_t)(seconds * 1e9);
}

static pyxis_value_t str_val(const char *s)
{
    return (pyxis_value_t){.type = PYXIS_VAL_STRING, .bytes = {s, strlen(s)}};
}

static pyxis_value_t num_val(double n)
{
    return (pyxis_value_t){.type = PYXIS_VAL_NUMBER, .number = n};
}

static pyxis_value_t bool_val(int b)
{
    return (pyxis_value_t){.type = PYXIS_VAL_BOOLEAN, .boolean = b};
}

static int present(px_shdict_t *d, const char *key)
{
    pyxis_value_t v;
    pyxis_rc_t rc = px_shdict_get(d, key, strlen(key), &v, NULL, 0);
    return rc == PYXIS_OK || rc == PYXIS_TOO_SMALL;
}

/* Set a string value, no ttl. */
static pyxis_rc_t put(px_shdict_t *d, const char *key, const char *val)
{
    pyxis_value_t v = str_val(val);
    return px_shdict_set(d, K(key), &v, 0);
}

static void test_types(void)
{
    px_shdict_t *d = px_shdict_acquire("types", 64 * 1024);
    pyxis_value_t v, got;
    char buf[64];

    ok(d != NULL, "a dict is created");
    is_str(px_shdict_name(d), "types", "it has its name");

    v = str_val("hello");
    is_int(px_shdict_set(d, K("s"), &v, 0), PYXIS_OK, "set a string");
    memset(buf, 'x', sizeof(buf));
    is_int(px_shdict_get(d, K("s"), &got, buf, sizeof(buf)), PYXIS_OK, "get it");
    is_int(got.type, PYXIS_VAL_STRING, "type STRING");
    is_mem(got.bytes.data, got.bytes.len, "hello", "bytes round trip");
    ok(got.bytes.data == buf, "copied into the caller's buffer");

    v = num_val(-12.5);
    px_shdict_set(d, K("n"), &v, 0);
    is_int(px_shdict_get(d, K("n"), &got, NULL, 0), PYXIS_OK, "a number needs no buffer");
    ok(got.type == PYXIS_VAL_NUMBER && got.number == -12.5, "number round trip");

    v = bool_val(7);
    px_shdict_set(d, K("t"), &v, 0);
    px_shdict_get(d, K("t"), &got, NULL, 0);
    ok(got.type == PYXIS_VAL_BOOLEAN && got.boolean == 1, "true is stored as 1");
    v = bool_val(0);
    px_shdict_set(d, K("f"), &v, 0);
    px_shdict_get(d, K("f"), &got, NULL, 0);
    ok(got.type == PYXIS_VAL_BOOLEAN && got.boolean == 0, "false round trip");

    static const char table[] = {'\x01', '\0', 'k', '\xff', '\0'};
    v = (pyxis_value_t){.type = PYXIS_VAL_TABLE, .bytes = {table, sizeof(table)}};
    px_shdict_set(d, K("tb"), &v, 0);
    is_int(px_shdict_get(d, K("tb"), &got, buf, sizeof(buf)), PYXIS_OK, "get a table");
    ok(got.type == PYXIS_VAL_TABLE && got.bytes.len == sizeof(table) &&
           memcmp(got.bytes.data, table, sizeof(table)) == 0,
       "table bytes (with NULs) round trip");

    v = str_val("");
    px_shdict_set(d, K("empty"), &v, 0);
    is_int(px_shdict_get(d, K("empty"), &got, NULL, 0), PYXIS_OK, "an empty string");
    ok(got.type == PYXIS_VAL_STRING && got.bytes.len == 0 && got.bytes.data != NULL,
       "... is an empty, non-NULL string");
    v = str_val("empty key");
    is_int(px_shdict_set(d, "", 0, &v, 0), PYXIS_OK, "an empty key is a key");
    is_int(px_shdict_get(d, "", 0, &got, buf, sizeof(buf)), PYXIS_OK, "... found");
    is_mem(got.bytes.data, got.bytes.len, "empty key", "... with its value");
    static const char binkey[] = {'a', '\0', 'b'};
    v = str_val("bin");
    px_shdict_set(d, binkey, sizeof(binkey), &v, 0);
    is_int(px_shdict_get(d, binkey, 2, &got, buf, sizeof(buf)), PYXIS_NOT_FOUND,
           "keys are compared on their whole length");
    is_int(px_shdict_get(d, binkey, 3, &got, buf, sizeof(buf)), PYXIS_OK, "binary key found");

    is_int(px_shdict_get(d, K("nope"), &got, buf, sizeof(buf)), PYXIS_NOT_FOUND, "absent");
    is_int(got.type, PYXIS_VAL_NIL, "absent is NIL");

    memset(buf, 'x', sizeof(buf));
    is_int(px_shdict_get(d, K("s"), &got, buf, 3), PYXIS_TOO_SMALL, "buffer too small");
    ok(got.type == PYXIS_VAL_STRING && got.bytes.len == 5, "... reports type and needed size");
    ok(buf[0] == 'x', "... and leaves the buffer alone");
    is_int(px_shdict_get(d, K("s"), &got, buf, 5), PYXIS_OK, "an exact fit is enough");

    v = num_val(3);
    px_shdict_set(d, K("s"), &v, 0);
    px_shdict_get(d, K("s"), &got, NULL, 0);
    ok(got.type == PYXIS_VAL_NUMBER && got.number == 3, "set replaces a value of another type");

    v = (pyxis_value_t){.type = PYXIS_VAL_NIL};
    is_int(px_shdict_set(d, K("s"), &v, 0), PYXIS_OK, "set NIL");
    ok(!present(d, "s"), "... deletes");
    is_int(px_shdict_set(d, K("s"), &v, 0), PYXIS_OK, "set NIL on an absent key is fine");

    v = (pyxis_value_t){.type = (pyxis_val_type_t)99};
    is_int(px_shdict_set(d, K("bad"), &v, 0), PYXIS_INVALID, "unknown type: INVALID");
    v = (pyxis_value_t){.type = PYXIS_VAL_STRING, .bytes = {NULL, 3}};
    is_int(px_shdict_set(d, K("bad"), &v, 0), PYXIS_INVALID, "NULL bytes with a length");
    v = str_val("x");
    is_int(px_shdict_set(d, K("bad"), &v, -1), PYXIS_INVALID, "negative ttl");
    is_int(px_shdict_set(d, K("bad"), &v, NAN), PYXIS_INVALID, "NaN ttl");
    ok(!present(d, "bad"), "nothing stored by refused sets");

    px_shdict_release(d);
}

static void test_add(void)
{
    px_shdict_t *d = px_shdict_acquire("add", 64 * 1024);
    pyxis_value_t v = str_val("first"), w = str_val("second"), got;
    char buf[64];

    is_int(px_shdict_add(d, K("k"), &v, 0), PYXIS_OK, "add to an absent key");
    is_int(px_shdict_add(d, K("k"), &w, 0), PYXIS_EXISTS, "add to a present key: EXISTS");
    px_shdict_get(d, K("k"), &got, buf, sizeof(buf));
    is_mem(got.bytes.data, got.bytes.len, "first", "... the value is unchanged");

    px_shdict_delete(d, K("k"));
    is_int(px_shdict_add(d, K("k"), &w, 1), PYXIS_OK, "add after delete");
    advance(2);
    is_int(px_shdict_add(d, K("k"), &v, 0), PYXIS_OK, "add over an expired entry");
    px_shdict_get(d, K("k"), &got, buf, sizeof(buf));
    is_mem(got.bytes.data, got.bytes.len, "first", "... stores the new value");

    pyxis_value_t nil = {.type = PYXIS_VAL_NIL};
    is_int(px_shdict_add(d, K("k"), &nil, 0), PYXIS_EXISTS, "add NIL to a present key: EXISTS");
    is_int(px_shdict_add(d, K("none"), &nil, 0), PYXIS_OK, "add NIL to an absent key: OK");
    ok(!present(d, "none"), "... and stores nothing");

    px_shdict_release(d);
}

static void test_incr(void)
{
    px_shdict_t *d = px_shdict_acquire("incr", 64 * 1024);
    double r = 0, left;
    pyxis_value_t got;

    is_int(px_shdict_incr(d, K("c"), 1, 10, 0, &r), PYXIS_OK, "incr an absent key");
    ok(r == 11, "... starts from init: 10 + 1 = 11");
    px_shdict_incr(d, K("c"), 1, 10, 0, &r);
    ok(r == 12, "then adds: 12");
    px_shdict_incr(d, K("c"), -2.5, 0, 0, &r);
    ok(r == 9.5, "negative and fractional deltas");
    is_int(px_shdict_incr(d, K("c"), 1, 0, 0, NULL), PYXIS_OK, "result may be NULL");
    px_shdict_get(d, K("c"), &got, NULL, 0);
    ok(got.type == PYXIS_VAL_NUMBER && got.number == 10.5, "get sees the number");

    put(d, "s", "text");
    is_int(px_shdict_incr(d, K("s"), 1, 0, 0, &r), PYXIS_INVALID, "incr a string: INVALID");
    pyxis_value_t b = bool_val(1);
    px_shdict_set(d, K("b"), &b, 0);
    is_int(px_shdict_incr(d, K("b"), 1, 0, 0, &r), PYXIS_INVALID, "incr a boolean: INVALID");
    is_int(px_shdict_incr(d, K("x"), 1, 0, -3, &r), PYXIS_INVALID, "incr with a bad ttl");

    is_int(px_shdict_incr(d, K("t"), 1, 0, 10, &r), PYXIS_OK, "incr creates with a ttl");
    px_shdict_ttl(d, K("t"), &left);
    ok(left > 9.99 && left <= 10, "... of 10 s (%f)", left);
    advance(4);
    px_shdict_incr(d, K("t"), 1, 0, 100, &r);
    px_shdict_ttl(d, K("t"), &left);
    ok(r == 2 && left > 5.99 && left <= 6, "incr of a present key keeps its ttl (%f)", left);
    advance(7);
    px_shdict_incr(d, K("t"), 1, 0, 0, &r);
    ok(r == 1, "after expiry incr starts over from init");
    is_int(px_shdict_ttl(d, K("t"), &left), PYXIS_OK, "ttl of the new counter");
    ok(left == 0, "... none, as asked");

    px_shdict_release(d);
}

static void test_delete_ttl(void)
{
    px_shdict_t *d = px_shdict_acquire("ttl", 64 * 1024);
    pyxis_value_t v = str_val("v");
    px_shdict_stats_t st;
    double left = -1;

    px_shdict_set(d, K("a"), &v, 0);
    is_int(px_shdict_delete(d, K("a")), PYXIS_OK, "delete a present key");
    is_int(px_shdict_delete(d, K("a")), PYXIS_NOT_FOUND, "delete it again: NOT_FOUND");
    is_int(px_shdict_ttl(d, K("a"), &left), PYXIS_NOT_FOUND, "ttl of an absent key");

    px_shdict_set(d, K("forever"), &v, 0);
    is_int(px_shdict_ttl(d, K("forever"), &left), PYXIS_OK, "ttl without one");
    ok(left == 0, "... is 0");

    px_shdict_set(d, K("e"), &v, 10);
    px_shdict_ttl(d, K("e"), &left);
    ok(left > 9.99 && left <= 10, "ttl 10 s right after set (%f)", left);
    advance(5);
    px_shdict_ttl(d, K("e"), &left);
    ok(left > 4.99 && left <= 5, "5 s later: 5 s left (%f)", left);
    ok(present(d, "e"), "still there");
    advance(5);
    ok(!present(d, "e"), "at its expiry time it is gone for get");
    px_shdict_set(d, K("e"), &v, 1);
    advance(1.5);
    is_int(px_shdict_ttl(d, K("e"), &left), PYXIS_NOT_FOUND, "... for ttl");
    px_shdict_set(d, K("e"), &v, 1);
    advance(1.5);
    is_int(px_shdict_delete(d, K("e")), PYXIS_NOT_FOUND, "... for delete");

    px_shdict_set(d, K("r"), &v, 1);
    px_shdict_set(d, K("r"), &v, 0);
    advance(2);
    ok(present(d, "r"), "set with ttl 0 clears an earlier ttl");
    px_shdict_set(d, K("r"), &v, 3);
    px_shdict_ttl(d, K("r"), &left);
    ok(left > 2.99 && left <= 3, "set with a ttl replaces it");

    px_shdict_delete(d, K("r"));
    px_shdict_set(d, K("x1"), &v, 0.05);
    px_shdict_set(d, K("x2"), &v, 0.05);
    px_shdict_set(d, K("x3"), &v, 60);
    px_shdict_stats(d, &st);
    is_int(st.entries, 4, "four entries");
    advance(0.1);
    px_shdict_stats(d, &st);
    is_int(st.entries, 4, "expired entries are reclaimed lazily, not by a timer");
    ok(!present(d, "x1"), "an access to an expired entry");
    px_shdict_stats(d, &st);
    is_int(st.entries, 3, "... reclaims it");
    is_int(px_shdict_flush_expired(d), 1, "flush_expired reclaims the other");
    px_shdict_stats(d, &st);
    is_int(st.entries, 2, "forever and x3 remain");
    is_int(st.bytes, 2 * PX_SHDICT_ENTRY_OVERHEAD + strlen("forever") + 2 + 2,
           "bytes = keys + values + overhead per entry");

    px_shdict_release(d);
}

/* One shard (under 128 KiB), four 138-byte entries of room: exact LRU. */
#define SLOT    (2 + 8 + PX_SHDICT_ENTRY_OVERHEAD)
#define VAL8    "vvvvvvvv"
#define FOUR_KV (4 * SLOT)

static void test_lru(void)
{
    px_shdict_t *d = px_shdict_acquire("lru", FOUR_KV);
    px_shdict_stats_t st;
    pyxis_value_t v;

    px_shdict_stats(d, &st);
    ok(st.nshards == 1 && st.capacity == FOUR_KV && st.max_entry == FOUR_KV,
       "a small dict has one shard holding the whole capacity");

    put(d, "k0", VAL8);
    put(d, "k1", VAL8);
    put(d, "k2", VAL8);
    put(d, "k3", VAL8);
    px_shdict_stats(d, &st);
    ok(st.entries == 4 && st.bytes == FOUR_KV && st.evictions == 0, "full, nothing evicted");

    put(d, "k4", VAL8);
    ok(!present(d, "k0") && present(d, "k1"), "the least recently set entry goes first");
    /* get touched k1; now least recent is k2 */
    put(d, "k5", VAL8);
    ok(!present(d, "k2") && present(d, "k1"), "get makes an entry recent");
    px_shdict_incr(d, K("k3"), 0, 0, 0, NULL); /* k3 is a string: INVALID, no touch */
    put(d, "k6", VAL8);
    ok(!present(d, "k3"), "a failed incr does not touch");
    put(d, "k4", VAL8);
    put(d, "k7", VAL8);
    ok(present(d, "k4") && !present(d, "k5"), "set of a present key makes it recent");
    px_shdict_stats(d, &st);
    ok(st.entries == 4 && st.bytes == FOUR_KV && st.evictions == 4, "each eviction counted (%llu)",
       (unsigned long long)st.evictions);

    /* Expired entries go before live ones, whatever their recency. */
    px_shdict_delete(d, K("k1"));
    px_shdict_delete(d, K("k4"));
    px_shdict_delete(d, K("k6"));
    px_shdict_delete(d, K("k7"));
    put(d, "aa", VAL8);
    put(d, "bb", VAL8);
    v = str_val(VAL8);
    px_shdict_set(d, K("cc"), &v, 1);
    put(d, "dd", VAL8);
    present(d, "cc"); /* the most recent now, and the only one with a ttl */
    advance(2);
    put(d, "ee", VAL8);
    px_shdict_stats(d, &st);
    ok(present(d, "aa") && present(d, "bb") && present(d, "dd") && present(d, "ee"),
       "room is made by reclaiming the expired entry, not the least recent one");
    is_int(st.evictions, 4, "reclaiming an expired entry is not an eviction");

    /* A bigger value evicts as many as it needs. */
    char big[2 * SLOT];
    memset(big, 'b', sizeof(big));
    big[SLOT + 8] = '\0'; /* 2 + SLOT + 8 + 128 = two slots */
    put(d, "bg", big);
    px_shdict_stats(d, &st);
    ok(!present(d, "aa") && !present(d, "bb") && present(d, "dd") && st.entries == 3,
       "a two-slot value evicts the two least recent");

    px_shdict_release(d);
}

static void test_too_large(void)
{
    px_shdict_t *d = px_shdict_acquire("large", FOUR_KV);
    px_shdict_stats_t st;
    char big[FOUR_KV + 1];

    put(d, "k0", VAL8);
    put(d, "k1", VAL8);
    memset(big, 'x', sizeof(big));
    big[FOUR_KV - 2 - PX_SHDICT_ENTRY_OVERHEAD + 1] = '\0';
    is_int(put(d, "bg", big), PYXIS_NOMEM, "a value one byte larger than the dict: NOMEM");
    px_shdict_stats(d, &st);
    ok(st.entries == 2 && st.evictions == 0, "... and nothing was evicted");
    put(d, "k0", VAL8);
    is_int(put(d, "k0", big), PYXIS_NOMEM, "replacing with a too large value: NOMEM");
    ok(present(d, "k0"), "... keeps the old value");

    big[FOUR_KV - 2 - PX_SHDICT_ENTRY_OVERHEAD] = '\0';
    is_int(put(d, "bg", big), PYXIS_OK, "a value exactly the dict's size fits");
    px_shdict_stats(d, &st);
    ok(st.entries == 1 && st.bytes == FOUR_KV && st.evictions == 2, "... alone");

    static char hugekey[FOUR_KV];
    memset(hugekey, 'k', sizeof(hugekey));
    is_int(px_shdict_incr(d, hugekey, sizeof(hugekey), 1, 0, 0, NULL), PYXIS_NOMEM,
           "incr creating a too large key: NOMEM");
    ok(present(d, "bg"), "... evicts nothing");
    px_shdict_release(d);

    /* A large dict is sharded: one entry can use one shard's capacity. */
    d = px_shdict_acquire("sharded", 1024 * 1024);
    px_shdict_stats(d, &st);
    ok(st.nshards == 16 && st.max_entry == 64 * 1024, "1 MiB: 16 shards of 64 KiB");
    char *v = malloc(70000);
    memset(v, 'v', 70000);
    v[69999] = '\0';
    is_int(put(d, "v", v), PYXIS_NOMEM, "a value larger than a shard: NOMEM");
    v[60000] = '\0';
    is_int(put(d, "v", v), PYXIS_OK, "a value within a shard fits");
    free(v);
    px_shdict_release(d);
}

/* keys() collectors */
typedef struct {
    char got[1024];
    int n;
    int stop_after;
    px_shdict_t *del; /* delete each key as it is seen */
} keys_acc_t;

static int collect(pyxis_str_t key, void *arg)
{
    keys_acc_t *a = arg;
    size_t len = strlen(a->got);
    snprintf(a->got + len, sizeof(a->got) - len, "%s%.*s", a->n ? " " : "", (int)key.len, key.data);
    a->n++;
    if (a->del != NULL)
        px_shdict_delete(a->del, key.data, key.len);
    return a->stop_after != 0 && a->n >= a->stop_after;
}

static void test_keys(void)
{
    px_shdict_t *d = px_shdict_acquire("keys", 64 * 1024);
    pyxis_value_t v = str_val("x");
    keys_acc_t a = {0};

    is_int(px_shdict_keys(d, 0, collect, &a), PYXIS_OK, "keys of an empty dict");
    is_int(a.n, 0, "... none");
    put(d, "a", "1");
    put(d, "b", "2");
    put(d, "c", "3");
    present(d, "a");
    px_shdict_set(d, K("gone"), &v, 1);
    advance(2);
    memset(&a, 0, sizeof(a));
    px_shdict_keys(d, 0, collect, &a);
    is_str(a.got, "a c b", "most recently used first, expired keys left out");
    memset(&a, 0, sizeof(a));
    px_shdict_keys(d, 2, collect, &a);
    is_str(a.got, "a c", "max 2");
    memset(&a, 0, sizeof(a));
    a.stop_after = 1;
    px_shdict_keys(d, 0, collect, &a);
    is_str(a.got, "a", "the callback stops the walk");
    memset(&a, 0, sizeof(a));
    a.del = d;
    is_int(px_shdict_keys(d, 0, collect, &a), PYXIS_OK, "a callback deleting from the dict");
    is_str(a.got, "a c b", "... sees every key");
    ok(!present(d, "a") && !present(d, "b") && !present(d, "c"), "... and deleted them");
    px_shdict_release(d);

    /* Across shards the order still holds. */
    d = px_shdict_acquire("keys16", 1024 * 1024);
    char key[8], want[1024] = "";
    for (int i = 0; i < 40; i++) {
        snprintf(key, sizeof(key), "k%02d", i);
        put(d, key, "x");
    }
    present(d, "k07");
    px_shdict_incr(d, K("k05"), 1, 0, 0, NULL); /* INVALID (a string): no touch */
    snprintf(want, sizeof(want), "k07");
    for (int i = 39; i >= 0; i--)
        if (i != 7)
            snprintf(want + strlen(want), sizeof(want) - strlen(want), " k%02d", i);
    memset(&a, 0, sizeof(a));
    px_shdict_keys(d, 0, collect, &a);
    is_str(a.got, want, "16 shards: keys merged newest first");
    memset(&a, 0, sizeof(a));
    px_shdict_keys(d, 3, collect, &a);
    is_str(a.got, "k07 k39 k38", "16 shards: max 3");
    px_shdict_release(d);
}

static void test_registry(void)
{
    px_shdict_t *d1 = px_shdict_acquire("reg", 64 * 1024);
    px_shdict_t *other = px_shdict_acquire("other", 64 * 1024);
    px_shdict_stats_t st;

    ok(px_shdict_acquire("zero", 0) == NULL, "size 0 is refused");
    ok(d1 != NULL && other != NULL && d1 != other, "two names, two dicts");
    put(d1, "kept", "yes");
    put(other, "kept", "other");

    /* A reload: the new config acquires, then the old one is released. */
    px_shdict_t *d2 = px_shdict_acquire("reg", 64 * 1024);
    ok(d2 == d1, "acquiring the same name gives the same dict");
    px_shdict_release(d1);
    ok(present(d2, "kept"), "contents survive the release of the old config");
    pyxis_value_t got;
    char buf[16];
    px_shdict_get(other, K("kept"), &got, buf, sizeof(buf));
    is_mem(got.bytes.data, got.bytes.len, "other", "dicts do not share keys");

    /* A reload that shrinks it to two slots keeps the two most recently used. */
    for (int i = 0; i < 6; i++) {
        char key[4];
        snprintf(key, sizeof(key), "k%d", i);
        put(d2, key, VAL8);
    }
    present(d2, "k1");
    px_shdict_t *d3 = px_shdict_acquire("reg", 2 * SLOT);
    ok(d3 == d2, "a new size is the same dict");
    px_shdict_release(d2);
    px_shdict_stats(d3, &st);
    ok(st.capacity == 2 * SLOT && st.entries == 2 && st.bytes == 2 * SLOT,
       "resized down: capacity and contents follow");
    ok(present(d3, "k1") && present(d3, "k5"), "... keeping the most recently used");
    is_int(st.evictions, 5, "... evictions counted");
    ok(st.nshards == 1, "the shard count is fixed at creation");

    px_shdict_t *d4 = px_shdict_acquire("reg", 64 * 1024);
    px_shdict_stats(d4, &st);
    ok(d4 == d3 && st.capacity == 64 * 1024 && st.entries == 2, "growing keeps everything");

    px_shdict_release(d3);
    px_shdict_release(d4);
    px_shdict_t *d5 = px_shdict_acquire("reg", 64 * 1024);
    px_shdict_stats(d5, &st);
    ok(st.entries == 0, "after the last release the name starts empty");
    px_shdict_release(d5);
    px_shdict_release(other);
    px_shdict_release(NULL);
    ok(1, "release(NULL) is a no-op");
}

/* ---- threads ------------------------------------------------------------------------------- */

#define THREADS 4
#define INCRS   100000
#define NKEYS   8

typedef struct {
    px_shdict_t *d;
    int id;
    int failures;
} worker_arg_t;

static void *incr_worker(void *p)
{
    worker_arg_t *w = p;
    char key[8];
    for (int i = 0; i < INCRS; i++) {
        snprintf(key, sizeof(key), "c%d", (i + w->id) % NKEYS);
        if (px_shdict_incr(w->d, K(key), 1, 0, 0, NULL) != PYXIS_OK)
            w->failures++;
    }
    return NULL;
}

static int count_keys(pyxis_str_t key, void *arg)
{
    (*(int *)arg)++;
    return 0;
}

/* Every operation at once on a dict too small for its keys: evictions, expiry, keys(). */
static void *churn_worker(void *p)
{
    worker_arg_t *w = p;
    unsigned seed = (unsigned)w->id * 7919u + 1;
    char key[16], val[600], buf[600];
    pyxis_value_t v, got;
    memset(val, 'v', sizeof(val));
    for (int i = 0; i < 40000; i++) {
        seed = seed * 1103515245u + 12345u;
        unsigned r = seed >> 8;
        snprintf(key, sizeof(key), "k%u", r % 2000);
        switch (r % 8) {
        case 0:
        case 1:
            v = (pyxis_value_t){.type = PYXIS_VAL_STRING, .bytes = {val, r % sizeof(val)}};
            px_shdict_set(w->d, K(key), &v, (r % 3) ? 0 : 0.001);
            break;
        case 2: px_shdict_add(w->d, K(key), &v, 0); break;
        case 3: px_shdict_incr(w->d, K(key), 1, 0, 0.002, NULL); break;
        case 4: px_shdict_delete(w->d, K(key)); break;
        case 5:
            if ((r >> 3) % 64 == 0) {
                int n = 0;
                px_shdict_keys(w->d, (r % 2) ? 0 : 10, count_keys, &n);
            }
            break;
        default:
            if (px_shdict_get(w->d, K(key), &got, buf, sizeof(buf)) == PYXIS_TOO_SMALL)
                w->failures++;
        }
    }
    return NULL;
}

static void test_threads(void)
{
    px_shdict_set_clock(NULL);
    px_shdict_t *d = px_shdict_acquire("threads", 1024 * 1024);
    pthread_t th[THREADS];
    worker_arg_t args[THREADS];
    int failures = 0;

    for (int i = 0; i < THREADS; i++) {
        args[i] = (worker_arg_t){d, i, 0};
        pthread_create(&th[i], NULL, incr_worker, &args[i]);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        failures += args[i].failures;
    }
    is_int(failures, 0, "%d threads x %d incr: none failed", THREADS, INCRS);
    double total = 0;
    int each_ok = 1;
    for (int k = 0; k < NKEYS; k++) {
        char key[8];
        pyxis_value_t got;
        snprintf(key, sizeof(key), "c%d", k);
        px_shdict_get(d, K(key), &got, NULL, 0);
        total += got.number;
        each_ok = each_ok && got.number == THREADS * INCRS / NKEYS;
    }
    ok(total == THREADS * INCRS, "the counters add up to exactly %d (%.0f)", THREADS * INCRS,
       total);
    ok(each_ok, "each of the %d keys holds exactly %d", NKEYS, THREADS * INCRS / NKEYS);
    px_shdict_release(d);

    d = px_shdict_acquire("churn", 256 * 1024);
    failures = 0;
    for (int i = 0; i < THREADS; i++) {
        args[i] = (worker_arg_t){d, i, 0};
        pthread_create(&th[i], NULL, churn_worker, &args[i]);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        failures += args[i].failures;
    }
    px_shdict_stats_t st;
    px_shdict_stats(d, &st);
    is_int(failures, 0, "churn: every get fit its buffer");
    ok(st.nshards == 4 && st.bytes <= st.capacity && st.evictions > 0,
       "churn: %llu entries, %llu of %llu bytes, %llu evictions", (unsigned long long)st.entries,
       (unsigned long long)st.bytes, (unsigned long long)st.capacity,
       (unsigned long long)st.evictions);
    int n = 0;
    px_shdict_keys(d, 0, count_keys, &n);
    ok((uint64_t)n <= st.entries, "churn: keys() lists at most the entries (%d)", n);
    px_shdict_release(d);
}

int main(void)
{
    plan_no_plan();
    px_log_level = PX_LOG_ERROR; /* the "dict is full" warnings are expected here */
    px_shdict_set_clock(fake_clock);
    test_types();
    test_add();
    test_incr();
    test_delete_ttl();
    test_lru();
    test_too_large();
    test_keys();
    test_registry();
    test_threads();
    return done_testing();
}
