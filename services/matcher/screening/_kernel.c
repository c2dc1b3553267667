/* The screening kernel: the watchlist's names as integer token ids in flat arrays, posting
 * lists as sorted arrays of name slots, and the two steps that touch many names per query
 * (candidate retrieval, then the name_tokens score of each candidate) in C.
 *
 * Why: at a million names, the Python index spent most of a query reading objects spread over a
 * gigabyte (a cache miss for each name record, its token tuple, each token's weight), and about
 * two microseconds of interpreter work per candidate. Here a candidate costs a few array reads.
 *
 * What stays in Python (index.py, engine.py): the vocabulary (token -> id), typo neighbourhoods,
 * identifiers, which blocking path a query takes, and the per-entry choice of the best name.
 * The score is the same function as the Python definition in engine.py's docstring, written
 * with the same floating-point operations in the same order (compiled with -ffp-contract=off),
 * so that results equal the pure-Python engine's to the last bit (tests/screening). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* One listed token: its posting list and what a query needs of it, in one place (a cache miss
   per token read, not one per array). */
typedef struct {
    int32_t *postings;     /* the slots of the names holding it, ascending (slots only grow) */
    uint32_t len, cap;
    double weight;         /* idf, valid while weight_gen == the store's generation */
    uint64_t weight_gen;
    uint32_t reach_mark;   /* the query that last reached it, and where its options are */
    int32_t reach_at, reach_cnt;
    uint32_t text_off;     /* the token's letters, in the store's text pool */
    uint16_t text_len;
    uint8_t generic;
} Token;

/* One listed name in 32 bytes (two a cache line): its token ids inline when it has few (most
   names), else their place in the pool. */
#define INLINE_TOKENS 7
typedef struct {
    uint16_t len;
    uint8_t flags;
    uint8_t form;
    int32_t tokens[INLINE_TOKENS];  /* len > INLINE_TOKENS: tokens[0] is the pool offset */
} Name;

enum { ALIVE = 1, PERSON = 2 };
enum { MODE_EXPLICIT = 0, MODE_RARE = 1, MODE_BOTH = 2 };

typedef struct {
    PyObject_HEAD
    double generic_factor;
    Name *names;  /* by slot */
    Py_ssize_t n_slots, cap_slots, live;
    int32_t *pool;
    Py_ssize_t pool_len, pool_cap;
    Token *tokens;  /* by id */
    Py_ssize_t n_tokens, cap_tokens;
    char *text;
    Py_ssize_t text_len, text_cap;
    /* typo neighbourhoods (SymSpell): a multimap from the hash of each deletion variant of a
       listed token (and of the token itself) to the token, for tokens of min_fuzzy letters or
       more; a hash shared by chance only adds a candidate that the exact one-edit check drops */
    uint64_t *nb_hash;
    int32_t *nb_token;  /* NB_EMPTY, NB_GONE or the token id */
    Py_ssize_t nb_cap, nb_used, nb_gone;
    int min_fuzzy;
    uint64_t generation;
    uint32_t reach_epoch;
    /* scratch, reused across queries */
    int32_t *cands, *near, *group;
    Py_ssize_t cands_cap, near_cap, group_cap;
    double *opt_sim;
    int32_t *opt_pos, *reached;
    Py_ssize_t opt_cap, reached_cap;
} Store;

enum { NB_EMPTY = -1, NB_GONE = -2 };
static Py_ssize_t sort_unique(int32_t *a, Py_ssize_t n);
#define MAX_TOKEN_LEN 0xFFFF
#define SCORE_AHEAD 8  /* records asked for ahead of their reading (prefetch) */
#define FILTER_AHEAD 32  /* the same, in a loop that does little else per record */
#define SEEN_WORDS 64  /* a 4096-bit filter of a token group's ids */

static inline const int32_t *name_tokens(const Store *s, const Name *name) {
    return name->len > INLINE_TOKENS ? s->pool + name->tokens[0] : name->tokens;
}

static int grow(void **ptr, Py_ssize_t *cap, Py_ssize_t need, size_t item, int zero) {
    if (need <= *cap) return 0;
    Py_ssize_t cap2 = *cap ? *cap : 16;
    while (cap2 < need) cap2 *= 2;
    void *p = PyMem_Realloc(*ptr, (size_t)cap2 * item);
    if (!p) { PyErr_NoMemory(); return -1; }
    if (zero) memset((char *)p + (size_t)*cap * item, 0, (size_t)(cap2 - *cap) * item);
    *ptr = p;
    *cap = cap2;
    return 0;
}

static void Store_dealloc(Store *s) {
    for (Py_ssize_t t = 0; t < s->n_tokens; t++) PyMem_Free(s->tokens[t].postings);
    void *arrays[] = {s->names, s->pool, s->tokens, s->cands, s->near, s->group, s->opt_sim, s->opt_pos, s->reached,
                      s->text, s->nb_hash, s->nb_token};
    for (size_t i = 0; i < sizeof arrays / sizeof arrays[0]; i++) PyMem_Free(arrays[i]);
    Py_TYPE(s)->tp_free((PyObject *)s);
}

static int Store_init(Store *s, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"generic_factor", "min_fuzzy", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "di", kwlist, &s->generic_factor, &s->min_fuzzy)) return -1;
    s->reach_epoch = 1;
    s->generation = 1;
    return 0;
}

static inline double weight_of(Store *s, Token *token) {
    if (token->weight_gen == s->generation) return token->weight;
    /* index.py's WatchlistIndex.idf for a listed token (df >= 1, so never the place factor) */
    double w = log((double)(s->live + 1) / (double)(token->len + 1)) + 1.0;
    if (token->generic) w *= s->generic_factor;
    token->weight = w;
    token->weight_gen = s->generation;
    return w;
}

static int check_token(Store *s, long t) {
    if (t < 0 || t >= s->n_tokens) {
        PyErr_Format(PyExc_IndexError, "token id %ld out of range", t);
        return -1;
    }
    return 0;
}

static int check_slot(Store *s, long slot) {
    if (slot < 0 || slot >= s->n_slots || !(s->names[slot].flags & ALIVE)) {
        PyErr_Format(PyExc_IndexError, "no name in slot %ld", slot);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ updates */

/* ------------------------------------------------------------------ neighbourhoods */

static inline uint64_t mix(uint64_t h) {  /* splitmix64's finaliser: spread FNV's low bits */
    h ^= h >> 30; h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27; h *= 0x94d049bb133111ebULL;
    return h ^ (h >> 31);
}

/* FNV-1a of text without its letter at `skip` (skip = len: the whole text) */
static uint64_t variant_hash(const char *text, Py_ssize_t len, Py_ssize_t skip) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (Py_ssize_t i = 0; i < len; i++) {
        if (i == skip) continue;
        h ^= (unsigned char)text[i];
        h *= 0x100000001b3ULL;
    }
    return mix(h ^ (uint64_t)(len - (skip < len)));
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* The distinct variant hashes of a token (its deletions and itself) into out (len + 1 room). */
static Py_ssize_t variants(const char *text, Py_ssize_t len, uint64_t *out) {
    for (Py_ssize_t i = 0; i <= len; i++) out[i] = variant_hash(text, len, i);
    qsort(out, (size_t)len + 1, sizeof(uint64_t), cmp_u64);
    Py_ssize_t k = 1;
    for (Py_ssize_t i = 1; i <= len; i++)
        if (out[i] != out[k - 1]) out[k++] = out[i];
    return k;
}

static int nb_insert_raw(Store *s, uint64_t hash, int32_t token) {
    size_t mask = (size_t)s->nb_cap - 1, at = (size_t)hash & mask;
    while (s->nb_token[at] >= 0) at = (at + 1) & mask;
    if (s->nb_token[at] == NB_GONE) s->nb_gone--; else s->nb_used++;
    s->nb_hash[at] = hash;
    s->nb_token[at] = token;
    return 0;
}

static int nb_reserve(Store *s, Py_ssize_t more) {
    if ((s->nb_used + more) * 2 <= s->nb_cap) return 0;
    Py_ssize_t live = s->nb_used - s->nb_gone, cap = s->nb_cap ? s->nb_cap : 1024;
    while ((live + more) * 2 > cap) cap *= 2;
    uint64_t *old_hash = s->nb_hash;
    int32_t *old_token = s->nb_token;
    Py_ssize_t old_cap = s->nb_cap;
    uint64_t *hash = PyMem_Malloc((size_t)cap * sizeof(uint64_t));
    int32_t *token = PyMem_Malloc((size_t)cap * sizeof(int32_t));
    if (!hash || !token) { PyMem_Free(hash); PyMem_Free(token); PyErr_NoMemory(); return -1; }
    for (Py_ssize_t i = 0; i < cap; i++) token[i] = NB_EMPTY;
    s->nb_hash = hash; s->nb_token = token; s->nb_cap = cap; s->nb_used = 0; s->nb_gone = 0;
    for (Py_ssize_t i = 0; i < old_cap; i++)  /* re-inserted without the tombstones */
        if (old_token[i] >= 0) nb_insert_raw(s, old_hash[i], old_token[i]);
    PyMem_Free(old_hash);
    PyMem_Free(old_token);
    return 0;
}

static int one_edit_apart(const char *a, Py_ssize_t la, const char *b, Py_ssize_t lb) {
    /* Levenshtein distance exactly 1 */
    if (la == lb) {
        Py_ssize_t differ = 0;
        for (Py_ssize_t i = 0; i < la && differ < 2; i++) differ += a[i] != b[i];
        return differ == 1;
    }
    if (la < lb) { const char *t = a; a = b; b = t; Py_ssize_t n = la; la = lb; lb = n; }
    if (la != lb + 1) return 0;
    Py_ssize_t i = 0;
    while (i < lb && a[i] == b[i]) i++;
    return memcmp(a + i + 1, b + i, (size_t)(lb - i)) == 0;  /* a without its letter i is b */
}

static inline const char *token_text(const Store *s, const Token *token) { return s->text + token->text_off; }

/* add_token(text, generic) -> token id; a token of min_fuzzy letters or more joins the
   neighbourhoods */
static PyObject *Store_add_token(Store *s, PyObject *args) {
    const char *text;
    Py_ssize_t len;
    int generic;
    if (!PyArg_ParseTuple(args, "s#p", &text, &len, &generic)) return NULL;
    if (len == 0 || len > MAX_TOKEN_LEN || s->n_tokens >= INT32_MAX || s->text_len + len > UINT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "a token is 1 to 65535 bytes, and at most 2**31 of them");
        return NULL;
    }
    if (grow((void **)&s->tokens, &s->cap_tokens, s->n_tokens + 1, sizeof(Token), 1) < 0) return NULL;
    if (grow((void **)&s->text, &s->text_cap, s->text_len + len, 1, 0) < 0) return NULL;
    if (len >= s->min_fuzzy) {
        uint64_t *hashes = PyMem_Malloc((size_t)(len + 1) * sizeof(uint64_t));
        if (!hashes) return PyErr_NoMemory();
        Py_ssize_t k = variants(text, len, hashes);
        if (nb_reserve(s, k) < 0) { PyMem_Free(hashes); return NULL; }
        for (Py_ssize_t i = 0; i < k; i++) nb_insert_raw(s, hashes[i], (int32_t)s->n_tokens);
        PyMem_Free(hashes);
    }
    Token *token = &s->tokens[s->n_tokens];
    memcpy(s->text + s->text_len, text, (size_t)len);
    token->text_off = (uint32_t)s->text_len;
    token->text_len = (uint16_t)len;
    token->generic = (uint8_t)generic;
    s->text_len += len;
    return PyLong_FromSsize_t(s->n_tokens++);
}

/* forget_token(id): no name holds it any more; out of the neighbourhoods (its id is not reused) */
static PyObject *Store_forget_token(Store *s, PyObject *arg) {
    long t = PyLong_AsLong(arg);
    if ((t == -1 && PyErr_Occurred()) || check_token(s, t) < 0) return NULL;
    Token *token = &s->tokens[t];
    if (token->len) {
        PyErr_SetString(PyExc_ValueError, "names still hold that token");
        return NULL;
    }
    Py_ssize_t len = token->text_len;
    if (len >= s->min_fuzzy && s->nb_cap) {
        uint64_t *hashes = PyMem_Malloc((size_t)(len + 1) * sizeof(uint64_t));
        if (!hashes) return PyErr_NoMemory();
        Py_ssize_t k = variants(token_text(s, token), len, hashes);
        size_t mask = (size_t)s->nb_cap - 1;
        for (Py_ssize_t i = 0; i < k; i++) {
            for (size_t at = (size_t)hashes[i] & mask; s->nb_token[at] != NB_EMPTY; at = (at + 1) & mask) {
                if (s->nb_token[at] == (int32_t)t && s->nb_hash[at] == hashes[i]) {
                    s->nb_token[at] = NB_GONE;
                    s->nb_gone++;
                    break;
                }
            }
        }
        PyMem_Free(hashes);
    }
    token->text_len = 0;  /* never matched again */
    Py_RETURN_NONE;
}

/* similar(text, exact id or -1) -> (how many names hold them, token ids, similarities): the
   listed token itself (1.0) and the listed tokens one edit away (0.9), as index.py's
   similar_postings gives them to blocking and to match() */
static PyObject *Store_similar(Store *s, PyObject *args) {
    const char *text;
    Py_ssize_t len;
    long exact;
    if (!PyArg_ParseTuple(args, "s#l", &text, &len, &exact)) return NULL;
    if (exact != -1 && check_token(s, exact) < 0) return NULL;
    Py_ssize_t n = 0, size = 0;
    if (exact >= 0) {
        if (grow((void **)&s->near, &s->near_cap, 1, sizeof(int32_t), 0) < 0) return NULL;
        s->near[n++] = (int32_t)exact;
    }
    Py_ssize_t first_fuzzy = n;
    if (len >= s->min_fuzzy && len <= MAX_TOKEN_LEN && s->nb_cap) {
        uint64_t *hashes = PyMem_Malloc((size_t)(len + 1) * sizeof(uint64_t));
        if (!hashes) return PyErr_NoMemory();
        Py_ssize_t k = variants(text, len, hashes);
        size_t mask = (size_t)s->nb_cap - 1;
        /* each step below waits on memory far beyond the caches at a million names (a bucket,
           a token, its letters): ask for all of a step's lines before reading any */
        for (Py_ssize_t i = 0; i < k; i++) {
            __builtin_prefetch(&s->nb_token[(size_t)hashes[i] & mask]);
            __builtin_prefetch(&s->nb_hash[(size_t)hashes[i] & mask]);
        }
        if (exact >= 0) __builtin_prefetch(&s->tokens[exact]);
        for (Py_ssize_t i = 0; i < k; i++) {
            for (size_t at = (size_t)hashes[i] & mask; s->nb_token[at] != NB_EMPTY; at = (at + 1) & mask) {
                int32_t t = s->nb_token[at];
                if (t < 0 || t == exact || s->nb_hash[at] != hashes[i]) continue;
                if (grow((void **)&s->near, &s->near_cap, n + 1, sizeof(int32_t), 0) < 0) {
                    PyMem_Free(hashes);
                    return NULL;
                }
                s->near[n++] = t;
            }
        }
        PyMem_Free(hashes);
        Py_ssize_t fuzzy = sort_unique(s->near + first_fuzzy, n - first_fuzzy), kept = first_fuzzy;
        for (Py_ssize_t i = first_fuzzy; i < first_fuzzy + fuzzy; i++) __builtin_prefetch(&s->tokens[s->near[i]]);
        for (Py_ssize_t i = first_fuzzy; i < first_fuzzy + fuzzy; i++)
            __builtin_prefetch(token_text(s, &s->tokens[s->near[i]]));
        for (Py_ssize_t i = first_fuzzy; i < first_fuzzy + fuzzy; i++) {
            const Token *token = &s->tokens[s->near[i]];
            if (one_edit_apart(text, len, token_text(s, token), token->text_len)) s->near[kept++] = s->near[i];
        }
        n = kept;
    }
    PyObject *ids = PyTuple_New(n), *sims = PyTuple_New(n);
    if (!ids || !sims) goto fail;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *id = PyLong_FromLong(s->near[i]), *sim = PyFloat_FromDouble(i < first_fuzzy ? 1.0 : 0.9);
        if (!id || !sim) { Py_XDECREF(id); Py_XDECREF(sim); goto fail; }
        PyTuple_SET_ITEM(ids, i, id);
        PyTuple_SET_ITEM(sims, i, sim);
        size += s->tokens[s->near[i]].len;
    }
    return Py_BuildValue("(nNN)", size, ids, sims);
fail:
    Py_XDECREF(ids);
    Py_XDECREF(sims);
    return NULL;
}

static PyObject *Store_add_name(Store *s, PyObject *args) {
    PyObject *tokens;
    int person, form;
    if (!PyArg_ParseTuple(args, "O!pi", &PyTuple_Type, &tokens, &person, &form)) return NULL;
    Py_ssize_t n = PyTuple_GET_SIZE(tokens);
    if (n == 0 || n > 0xFFFF || form < 0 || form > 0xFF) {
        PyErr_SetString(PyExc_ValueError, "a name holds 1 to 65535 tokens, a form id is 0 to 255");
        return NULL;
    }
    if (s->n_slots >= INT32_MAX || s->pool_len + n > INT32_MAX) {
        PyErr_SetString(PyExc_OverflowError, "too many names");
        return NULL;
    }
    if (grow((void **)&s->names, &s->cap_slots, s->n_slots + 1, sizeof(Name), 1) < 0) return NULL;
    Name *name = &s->names[s->n_slots];
    int32_t *ids = name->tokens;
    if (n > INLINE_TOKENS) {
        if (grow((void **)&s->pool, &s->pool_cap, s->pool_len + n, sizeof(int32_t), 0) < 0) return NULL;
        ids = s->pool + s->pool_len;
    }
    int32_t first = name->tokens[0];
    for (Py_ssize_t i = 0; i < n; i++) {
        long t = PyLong_AsLong(PyTuple_GET_ITEM(tokens, i));
        if ((t == -1 && PyErr_Occurred()) || check_token(s, t) < 0) {
            name->tokens[0] = first;  /* the slot stays unused */
            return NULL;
        }
        ids[i] = (int32_t)t;
    }
    int32_t slot = (int32_t)s->n_slots;
    /* reserve every posting first, so that a failed allocation leaves nothing half-added */
    for (Py_ssize_t i = 0; i < n; i++) {
        Token *token = &s->tokens[ids[i]];
        Py_ssize_t cap = token->cap;
        if (grow((void **)&token->postings, &cap, (Py_ssize_t)token->len + 1, sizeof(int32_t), 0) < 0) return NULL;
        token->cap = (uint32_t)cap;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        Token *token = &s->tokens[ids[i]];
        if (token->len && token->postings[token->len - 1] == slot) continue;  /* a word twice in one name */
        token->postings[token->len++] = slot;
    }
    if (n > INLINE_TOKENS) {
        name->tokens[0] = (int32_t)s->pool_len;
        s->pool_len += n;
    }
    name->len = (uint16_t)n;
    name->form = (uint8_t)form;
    name->flags = ALIVE | (person ? PERSON : 0);
    s->n_slots++;
    s->live++;
    s->generation++;
    return PyLong_FromLong(slot);
}

static int32_t *find_slot(Token *token, int32_t slot) {
    uint32_t lo = 0, hi = token->len;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (token->postings[mid] < slot) lo = mid + 1; else hi = mid;
    }
    return lo < token->len && token->postings[lo] == slot ? &token->postings[lo] : NULL;
}

static PyObject *Store_remove_name(Store *s, PyObject *arg) {
    long slot = PyLong_AsLong(arg);
    if (slot == -1 && PyErr_Occurred()) return NULL;
    if (check_slot(s, slot) < 0) return NULL;
    Name *name = &s->names[slot];
    const int32_t *ids = name_tokens(s, name);
    for (uint32_t i = 0; i < name->len; i++) {
        Token *token = &s->tokens[ids[i]];
        int32_t *at = find_slot(token, (int32_t)slot);
        if (at) {  /* absent for a repeated word, already removed */
            memmove(at, at + 1, (size_t)(token->postings + token->len - at - 1) * sizeof(int32_t));
            token->len--;
        }
    }
    /* a slot is not reused, and a long name's pool cells stay (append-only): a matcher with
       heavy churn wastes 32 bytes a removed name */
    name->flags = 0;
    s->live--;
    s->generation++;
    Py_RETURN_NONE;
}

static PyObject *Store_df(Store *s, PyObject *arg) {
    long t = PyLong_AsLong(arg);
    if (t == -1 && PyErr_Occurred()) return NULL;
    if (check_token(s, t) < 0) return NULL;
    return PyLong_FromUnsignedLong(s->tokens[t].len);
}

/* ------------------------------------------------------------------ retrieval */

/* Candidates are sorted arrays of slots built from posting lists (each sorted): no name is
   read to find them, and the order is one whatever the path. */

static inline void sort_slots(int32_t *a, Py_ssize_t n) {
    /* quicksort with inline comparisons, insertion sort below 16 */
    while (n > 16) {
        int32_t x = a[0], y = a[n / 2], z = a[n - 1];
        int32_t pivot = x < y ? (y < z ? y : (x < z ? z : x)) : (x < z ? x : (y < z ? z : y));
        Py_ssize_t i = 0, j = n - 1;
        while (i <= j) {
            while (a[i] < pivot) i++;
            while (a[j] > pivot) j--;
            if (i <= j) { int32_t t = a[i]; a[i] = a[j]; a[j] = t; i++; j--; }
        }
        if (j + 1 < n - i) { sort_slots(a, j + 1); a += i; n -= i; }  /* recurse on the smaller side */
        else { sort_slots(a + i, n - i); n = j + 1; }
    }
    for (Py_ssize_t i = 1; i < n; i++) {
        int32_t v = a[i];
        Py_ssize_t j = i;
        while (j > 0 && a[j - 1] > v) { a[j] = a[j - 1]; j--; }
        a[j] = v;
    }
}

static Py_ssize_t sort_unique(int32_t *a, Py_ssize_t n) {
    if (n < 2) return n;
    sort_slots(a, n);
    Py_ssize_t k = 1;
    for (Py_ssize_t i = 1; i < n; i++)
        if (a[i] != a[k - 1]) a[k++] = a[i];
    return k;
}

static int token_arg(Store *s, PyObject *tokens, Py_ssize_t i, Token **out) {
    long t = PyLong_AsLong(PyTuple_GET_ITEM(tokens, i));
    if ((t == -1 && PyErr_Occurred()) || check_token(s, t) < 0) return -1;
    *out = &s->tokens[t];
    return 0;
}

/* Ask for the records of these token ids (postings: for the heads of their posting lists,
   whose records were asked for before). Only a hint: a bad id is left for token_arg to report. */
static void prefetch_tokens(const Store *s, PyObject *ids, int postings) {
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(ids); i++) {
        long t = PyLong_AsLong(PyTuple_GET_ITEM(ids, i));
        if (t >= 0 && t < s->n_tokens) __builtin_prefetch(postings ? (const void *)s->tokens[t].postings : &s->tokens[t]);
    }
    PyErr_Clear();
}

/* Append the posting lists of these tokens to *buf (from *n on). A query word's group is a
   dozen tokens or more, each a miss for its record and one for its list at a million names:
   ask for all the records, then all the lists' heads, then copy, so that the misses overlap. */
static int append_postings(Store *s, PyObject *tokens, int32_t **buf, Py_ssize_t *cap, Py_ssize_t *n) {
    Py_ssize_t k = PyTuple_GET_SIZE(tokens);
    if (k > 1) {
        prefetch_tokens(s, tokens, 0);
        prefetch_tokens(s, tokens, 1);
    }
    for (Py_ssize_t i = 0; i < k; i++) {
        Token *token;
        if (token_arg(s, tokens, i, &token) < 0) return -1;
        if (grow((void **)buf, cap, *n + token->len, sizeof(int32_t), 0) < 0) return -1;
        memcpy(*buf + *n, token->postings, (size_t)token->len * sizeof(int32_t));
        *n += token->len;
    }
    return 0;
}

/* Append to *buf the members of sorted `near` that sorted `list` holds: a merge when the two
   are of like size, else each of near found by galloping through the long list. */
static int append_common(const int32_t *near, Py_ssize_t n_near, const int32_t *list, Py_ssize_t n_list,
                         int32_t **buf, Py_ssize_t *cap, Py_ssize_t *n) {
    Py_ssize_t i = 0, j = 0;
    while (i < n_near && j < n_list) {
        int32_t want = near[i];
        if (list[j] < want) {
            if (n_list > 8 * n_near) {  /* gallop: double the step until past, then bisect */
                Py_ssize_t step = 1, lo = j, hi;
                while (j + step < n_list && list[j + step] < want) { lo = j + step; step *= 2; }
                hi = j + step < n_list ? j + step : n_list - 1;
                while (lo < hi) {
                    Py_ssize_t mid = (lo + hi) / 2;
                    if (list[mid] < want) lo = mid + 1; else hi = mid;
                }
                j = lo;
                if (list[j] < want) { j++; continue; }
            } else {
                j++;
                continue;
            }
        }
        if (list[j] == want) {
            if (grow((void **)buf, cap, *n + 1, sizeof(int32_t), 0) < 0) return -1;
            (*buf)[(*n)++] = want;
            j++;
        }
        i++;
    }
    return 0;
}

static Py_ssize_t postings_size(Store *s, PyObject *tokens) {
    Py_ssize_t size = 0;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(tokens); i++) {
        Token *token;
        if (token_arg(s, tokens, i, &token) < 0) return -1;
        size += token->len;
    }
    return size;
}

/* The candidate slots of a query into s->cands, ascending; returns how many, -1 on error.
 *   rare:     the names of the first group's tokens, and the second group's too when both are
 *             few (len(union) + size of the second <= small_groups)
 *   both:     the names holding a token of each group: the second as a sorted union (bytes)
 *             is galloped through, as token ids it is looked for in each candidate's record
 *   explicit: the slots given (blocking paths that Python answers from its own caches) */
static Py_ssize_t candidates(Store *s, int mode, PyObject *first, PyObject *second, PyObject *explicit_slots,
                             Py_ssize_t small_groups) {
    Py_ssize_t n = 0;
    if (mode == MODE_EXPLICIT) {
        if (!PyList_Check(explicit_slots) && !PyTuple_Check(explicit_slots)) {
            PyErr_SetString(PyExc_TypeError, "explicit slots: a list or tuple");
            return -1;
        }
        Py_ssize_t k = PySequence_Fast_GET_SIZE(explicit_slots);
        if (grow((void **)&s->cands, &s->cands_cap, k, sizeof(int32_t), 0) < 0) return -1;
        for (Py_ssize_t i = 0; i < k; i++) {
            long slot = PyLong_AsLong(PySequence_Fast_GET_ITEM(explicit_slots, i));
            if ((slot == -1 && PyErr_Occurred()) || check_slot(s, slot) < 0) return -1;
            s->cands[n++] = (int32_t)slot;
        }
        return sort_unique(s->cands, n);
    }
    if (!(PyTuple_Check(first) || (mode == MODE_BOTH && PyBytes_Check(first)))
        || !(second == Py_None || PyTuple_Check(second) || (mode == MODE_BOTH && PyBytes_Check(second)))) {
        PyErr_SetString(PyExc_TypeError, "token groups: tuples of token ids (or, on the both path, slot unions)");
        return -1;
    }
    if (mode == MODE_RARE) {
        if (append_postings(s, first, &s->cands, &s->cands_cap, &n) < 0) return -1;
        n = sort_unique(s->cands, n);
        if (second != Py_None) {
            Py_ssize_t size = postings_size(s, second);
            if (size < 0) return -1;
            if (n + size <= small_groups) {
                if (append_postings(s, second, &s->cands, &s->cands_cap, &n) < 0) return -1;
                n = sort_unique(s->cands, n);
            }
        }
        return n;
    }
    if (mode != MODE_BOTH || second == Py_None) {
        PyErr_Format(PyExc_ValueError, "unknown blocking mode %d, or the both path without two groups", mode);
        return -1;
    }
    Py_ssize_t n_near = 0;
    const int32_t *near;
    if (PyBytes_Check(first)) {  /* a union cached by the caller (WatchlistIndex.union_of) */
        near = (const int32_t *)PyBytes_AS_STRING(first);
        n_near = PyBytes_GET_SIZE(first) / (Py_ssize_t)sizeof(int32_t);
    } else {
        if (append_postings(s, first, &s->near, &s->near_cap, &n_near) < 0) return -1;
        /* galloping needs them sorted; the record filter below sorts only those it keeps
           (sorting them all cost more than the filter: a mispredicted branch a comparison) */
        if (PyBytes_Check(second)) n_near = sort_unique(s->near, n_near);
        near = s->near;
    }
    if (PyBytes_Check(second)) {  /* one long sorted list: galloping skips most of it */
        const int32_t *list = (const int32_t *)PyBytes_AS_STRING(second);
        if (append_common(near, n_near, list, PyBytes_GET_SIZE(second) / (Py_ssize_t)sizeof(int32_t), &s->cands,
                          &s->cands_cap, &n) < 0)
            return -1;
        return n;  /* sorted and unique already */
    }
    /* The other group as its token ids: the rarer group's names are few, and reading each one's
       record (prefetched) to look for one of those ids costs less than walking the other
       group's many posting lists, or merging them into a union that a word asked for once
       would not repay. */
    Py_ssize_t k = PyTuple_GET_SIZE(second);
    uint64_t seen[SEEN_WORDS] = {0};  /* a bit per id hash: most name tokens are ruled out here */
    if (grow((void **)&s->group, &s->group_cap, k, sizeof(int32_t), 0) < 0) return -1;
    for (Py_ssize_t i = 0; i < k; i++) {
        Token *token;
        if (token_arg(s, second, i, &token) < 0) return -1;
        int32_t id = (int32_t)(token - s->tokens);
        s->group[i] = id;
        seen[(uint32_t)id / 64 % SEEN_WORDS] |= 1ULL << ((uint32_t)id % 64);
    }
    if (grow((void **)&s->cands, &s->cands_cap, n_near, sizeof(int32_t), 0) < 0) return -1;
    for (Py_ssize_t i = 0; i < n_near && i < FILTER_AHEAD; i++) __builtin_prefetch(&s->names[near[i]]);
    for (Py_ssize_t i = 0; i < n_near; i++) {
        if (i + FILTER_AHEAD < n_near) __builtin_prefetch(&s->names[near[i + FILTER_AHEAD]]);
        const Name *name = &s->names[near[i]];
        const int32_t *ids = name_tokens(s, name);
        int holds = 0;
        for (uint32_t a = 0; a < name->len && !holds; a++) {
            uint32_t id = (uint32_t)ids[a];
            if (!(seen[id / 64 % SEEN_WORDS] >> (id % 64) & 1)) continue;
            for (Py_ssize_t g = 0; g < k && !holds; g++) holds = s->group[g] == (int32_t)id;
        }
        if (holds) s->cands[n++] = near[i];
    }
    return sort_unique(s->cands, n);  /* a name holding two of the rarer group's tokens came twice */
}

/* union(token ids) -> the sorted slots of the names holding any of them, as int32 bytes: the
   sorted posting lists merged through a heap of their heads (no sort of the whole). */
static PyObject *Store_union(Store *s, PyObject *arg) {
    if (!PyTuple_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "union: a tuple of token ids");
        return NULL;
    }
    Py_ssize_t k = PyTuple_GET_SIZE(arg), total = 0, heap_n = 0, n = 0;
    Token **heap = PyMem_Malloc((size_t)(k ? k : 1) * sizeof(Token *));
    uint32_t *at = PyMem_Calloc((size_t)(k ? k : 1), sizeof(uint32_t));
    Py_ssize_t *which = PyMem_Malloc((size_t)(k ? k : 1) * sizeof(Py_ssize_t));
    if (!heap || !at || !which) { PyErr_NoMemory(); goto fail; }
    Token **lists = heap;  /* lists[i] for i < k, then reused as heap order via `which` */
    for (Py_ssize_t i = 0; i < k; i++) {
        if (token_arg(s, arg, i, &lists[i]) < 0) goto fail;
        total += lists[i]->len;
    }
    if (grow((void **)&s->near, &s->near_cap, total, sizeof(int32_t), 0) < 0) goto fail;
    /* heap of list indexes, keyed by each list's current head */
#define HEAD(i) (lists[i]->postings[at[i]])
    for (Py_ssize_t i = 0; i < k; i++) {
        if (!lists[i]->len) continue;
        Py_ssize_t c = heap_n++;
        while (c > 0 && HEAD(which[(c - 1) / 2]) > HEAD(i)) { which[c] = which[(c - 1) / 2]; c = (c - 1) / 2; }
        which[c] = i;
    }
    while (heap_n) {
        Py_ssize_t top = which[0];
        int32_t slot = HEAD(top);
        if (!n || s->near[n - 1] != slot) s->near[n++] = slot;
        if (++at[top] == lists[top]->len) top = which[--heap_n];  /* that list is done */
        if (!heap_n) break;
        /* sift `top` down from the root */
        Py_ssize_t c = 0;
        for (;;) {
            Py_ssize_t child = 2 * c + 1;
            if (child >= heap_n) break;
            if (child + 1 < heap_n && HEAD(which[child + 1]) < HEAD(which[child])) child++;
            if (HEAD(which[child]) >= HEAD(top)) break;
            which[c] = which[child];
            c = child;
        }
        which[c] = top;
    }
#undef HEAD
    PyMem_Free(heap);
    PyMem_Free(at);
    PyMem_Free(which);
    return PyBytes_FromStringAndSize((const char *)s->near, n * (Py_ssize_t)sizeof(int32_t));
fail:
    PyMem_Free(heap);
    PyMem_Free(at);
    PyMem_Free(which);
    return NULL;
}

/* size(token ids) -> how many names their posting lists hold in all */
static PyObject *Store_size(Store *s, PyObject *arg) {
    if (!PyTuple_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "size: a tuple of token ids");
        return NULL;
    }
    Py_ssize_t size = postings_size(s, arg);
    return size < 0 ? NULL : PyLong_FromSsize_t(size);
}

static PyObject *slots_list(Store *s, Py_ssize_t n) {
    PyObject *out = PyList_New(n);
    if (!out) return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = PyLong_FromLong(s->cands[i]);
        if (!v) { Py_DECREF(out); return NULL; }
        PyList_SET_ITEM(out, i, v);
    }
    return out;
}

static PyObject *Store_candidates(Store *s, PyObject *args) {
    int mode;
    PyObject *first, *second, *explicit_slots;
    Py_ssize_t small_groups;
    if (!PyArg_ParseTuple(args, "iOOOn", &mode, &first, &second, &explicit_slots, &small_groups)) return NULL;
    Py_ssize_t n = candidates(s, mode, first, second, explicit_slots, small_groups);
    return n < 0 ? NULL : slots_list(s, n);
}

/* Names made of exactly these distinct tokens: the smallest posting walked, the others probed
   by bisection (all are sorted), then the names with other words dropped. */
static PyObject *Store_exact(Store *s, PyObject *arg) {
    if (!PyTuple_Check(arg) || PyTuple_GET_SIZE(arg) == 0) {
        PyErr_SetString(PyExc_TypeError, "exact: a non-empty tuple of distinct token ids");
        return NULL;
    }
    Py_ssize_t k = PyTuple_GET_SIZE(arg), smallest = 0;
    Token **lists = PyMem_Malloc((size_t)k * sizeof(Token *));
    if (!lists) return PyErr_NoMemory();
    for (Py_ssize_t i = 0; i < k; i++) {
        if (token_arg(s, arg, i, &lists[i]) < 0) { PyMem_Free(lists); return NULL; }
        if (lists[i]->len < lists[smallest]->len) smallest = i;
    }
    Py_ssize_t n = 0;
    Token *walk = lists[smallest];
    for (uint32_t j = 0; j < walk->len; j++) {
        int32_t slot = walk->postings[j];
        int everywhere = 1;
        for (Py_ssize_t i = 0; i < k && everywhere; i++)
            if (i != smallest && !find_slot(lists[i], slot)) everywhere = 0;
        if (!everywhere) continue;
        /* its distinct words: exactly k (it holds all k, so no more than k distinct ones) */
        const Name *name = &s->names[slot];
        const int32_t *ids = name_tokens(s, name);
        Py_ssize_t distinct = 0;
        for (uint32_t a = 0; a < name->len; a++) {
            uint32_t b = 0;
            while (b < a && ids[b] != ids[a]) b++;
            distinct += b == a;
        }
        if (distinct != k) continue;
        if (grow((void **)&s->cands, &s->cands_cap, n + 1, sizeof(int32_t), 0) < 0) { PyMem_Free(lists); return NULL; }
        s->cands[n++] = slot;
    }
    PyMem_Free(lists);
    return slots_list(s, n);
}

/* led_by(token id) -> (weight sums ascending, slots in that order): the short names (one or two
   distinct tokens) holding this token in which it weighs at least half, each with the sum of
   its tokens' weights (repeats counted, added in the name's order like Python's sum over its
   tokens). Ties keep slot order. */
typedef struct { double total; int32_t slot; } Led;

static int cmp_led(const void *a, const void *b) {
    const Led *x = a, *y = b;
    if (x->total != y->total) return x->total < y->total ? -1 : 1;
    return (x->slot > y->slot) - (x->slot < y->slot);
}

static PyObject *Store_led_by(Store *s, PyObject *arg) {
    long t = PyLong_AsLong(arg);
    if ((t == -1 && PyErr_Occurred()) || check_token(s, t) < 0) return NULL;
    Token *token = &s->tokens[t];
    double doubled = 2 * weight_of(s, token);
    Led *led = PyMem_Malloc((size_t)(token->len ? token->len : 1) * sizeof(Led));
    if (!led) return PyErr_NoMemory();
    Py_ssize_t n = 0;
    for (uint32_t j = 0; j < token->len; j++) {
        const Name *name = &s->names[token->postings[j]];
        const int32_t *ids = name_tokens(s, name);
        int32_t other = -1;
        int short_name = 1;
        for (uint32_t a = 0; a < name->len && short_name; a++) {
            if (ids[a] == (int32_t)t || ids[a] == other) continue;
            if (other < 0) other = ids[a]; else short_name = 0;  /* a third distinct token */
        }
        if (!short_name) continue;
        double total = 0.0;
        for (uint32_t a = 0; a < name->len; a++) total += weight_of(s, &s->tokens[ids[a]]);
        if (doubled >= total) { led[n].total = total; led[n].slot = token->postings[j]; n++; }
    }
    qsort(led, (size_t)n, sizeof(Led), cmp_led);
    PyObject *totals = PyList_New(n), *slots = PyList_New(n);
    if (!totals || !slots) goto fail;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *total = PyFloat_FromDouble(led[i].total), *slot = PyLong_FromLong(led[i].slot);
        if (!total || !slot) { Py_XDECREF(total); Py_XDECREF(slot); goto fail; }
        PyList_SET_ITEM(totals, i, total);
        PyList_SET_ITEM(slots, i, slot);
    }
    PyMem_Free(led);
    return Py_BuildValue("(NN)", totals, slots);
fail:
    PyMem_Free(led);
    Py_XDECREF(totals);
    Py_XDECREF(slots);
    return NULL;
}

/* ------------------------------------------------------------------ scoring */

static int cmp_option(const double sa, const int32_t pa, const double sb, const int32_t pb) {
    /* Python's sorted(..., reverse=True) of (similarity, position) pairs */
    if (sa != sb) return sa > sb;
    return pa > pb;
}

/* reach: listed token -> the query positions reaching it, best first (engine.py's `reach`).
   positions[p] = (size, token ids, similarities) of query word p. */
static int build_reach(Store *s, PyObject *positions, uint32_t *epoch_out) {
    if (s->reach_epoch >= UINT32_MAX - 1) {
        for (Py_ssize_t t = 0; t < s->n_tokens; t++) s->tokens[t].reach_mark = 0;
        s->reach_epoch = 1;
    }
    uint32_t epoch = ++s->reach_epoch;
    Py_ssize_t nq = PyTuple_GET_SIZE(positions), total = 0, nreached = 0;
    for (Py_ssize_t p = 0; p < nq; p++) {  /* ask for every token first: their misses overlap */
        PyObject *item = PyTuple_GET_ITEM(positions, p);
        if (PyTuple_Check(item) && PyTuple_GET_SIZE(item) == 3 && PyTuple_Check(PyTuple_GET_ITEM(item, 1)))
            prefetch_tokens(s, PyTuple_GET_ITEM(item, 1), 0);  /* a bad item is reported below */
    }
    for (Py_ssize_t p = 0; p < nq; p++) {
        PyObject *item = PyTuple_GET_ITEM(positions, p);
        if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 3 || !PyTuple_Check(PyTuple_GET_ITEM(item, 1))
            || !PyTuple_Check(PyTuple_GET_ITEM(item, 2))
            || PyTuple_GET_SIZE(PyTuple_GET_ITEM(item, 1)) != PyTuple_GET_SIZE(PyTuple_GET_ITEM(item, 2))) {
            PyErr_SetString(PyExc_TypeError, "a query position: (size, token ids, similarities)");
            return -1;
        }
        PyObject *tokens = PyTuple_GET_ITEM(item, 1);
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(tokens); i++) {
            Token *token;
            if (token_arg(s, tokens, i, &token) < 0) return -1;
            if (token->reach_mark != epoch) {
                token->reach_mark = epoch;
                token->reach_cnt = 0;
                if (grow((void **)&s->reached, &s->reached_cap, nreached + 1, sizeof(int32_t), 0) < 0) return -1;
                s->reached[nreached++] = (int32_t)(token - s->tokens);
            }
            token->reach_cnt++;
            total++;
        }
    }
    if (total > s->opt_cap) {
        Py_ssize_t cap = s->opt_cap;
        if (grow((void **)&s->opt_sim, &cap, total, sizeof(double), 0) < 0) return -1;
        cap = s->opt_cap;
        if (grow((void **)&s->opt_pos, &cap, total, sizeof(int32_t), 0) < 0) return -1;
        s->opt_cap = cap;
    }
    Py_ssize_t at = 0;
    for (Py_ssize_t r = 0; r < nreached; r++) {
        Token *token = &s->tokens[s->reached[r]];
        token->reach_at = (int32_t)at;
        at += token->reach_cnt;
        token->reach_cnt = 0;  /* refilled below */
    }
    for (Py_ssize_t p = 0; p < nq; p++) {
        PyObject *item = PyTuple_GET_ITEM(positions, p);
        PyObject *tokens = PyTuple_GET_ITEM(item, 1), *sims = PyTuple_GET_ITEM(item, 2);
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(tokens); i++) {
            Token *token = &s->tokens[PyLong_AsLong(PyTuple_GET_ITEM(tokens, i))];  /* checked above */
            double sim = PyFloat_AsDouble(PyTuple_GET_ITEM(sims, i));
            if (sim == -1.0 && PyErr_Occurred()) return -1;
            /* insertion into the token's run, kept in order */
            int32_t base = token->reach_at, k = token->reach_cnt++;
            while (k > 0 && cmp_option(sim, (int32_t)p, s->opt_sim[base + k - 1], s->opt_pos[base + k - 1])) {
                s->opt_sim[base + k] = s->opt_sim[base + k - 1];
                s->opt_pos[base + k] = s->opt_pos[base + k - 1];
                k--;
            }
            s->opt_sim[base + k] = sim;
            s->opt_pos[base + k] = (int32_t)p;
        }
    }
    *epoch_out = epoch;
    return 0;
}

static inline void prefetch_name_tokens(const Store *s, const Name *name) {
    const int32_t *ids = name_tokens(s, name);
    for (uint32_t i = 0; i < name->len && i < INLINE_TOKENS; i++) __builtin_prefetch(&s->tokens[ids[i]]);
}

/* match(mode, first, second, explicit, small_groups, positions, query_weights, whole_query,
 *       form, want_person, in_text) -> [(slot, score)] for the candidates scoring above 0.5,
 * ascending by slot. want_person: -1 either kind, else a name of the other kind is scored
 * x0.9 (engine.py's _match_tokens). */
static PyObject *Store_match(Store *s, PyObject *args) {
    int mode, form, want_person, in_text;
    PyObject *first, *second, *explicit_slots, *positions, *weights_obj;
    Py_ssize_t small_groups;
    double whole_query;
    if (!PyArg_ParseTuple(args, "iOOOnO!O!diip", &mode, &first, &second, &explicit_slots, &small_groups,
                          &PyTuple_Type, &positions, &PyList_Type, &weights_obj, &whole_query, &form,
                          &want_person, &in_text))
        return NULL;
    Py_ssize_t nq = PyTuple_GET_SIZE(positions);
    if (PyList_GET_SIZE(weights_obj) != nq || nq == 0) {
        PyErr_SetString(PyExc_ValueError, "one weight per query position, and at least one position");
        return NULL;
    }
    Py_ssize_t n = candidates(s, mode, first, second, explicit_slots, small_groups);
    if (n < 0) return NULL;
    uint32_t reach_epoch;
    if (build_reach(s, positions, &reach_epoch) < 0) return NULL;
    double *qw = PyMem_Malloc((size_t)nq * sizeof(double));
    uint8_t *used = PyMem_Malloc((size_t)nq);
    PyObject *out = PyList_New(0);
    if (!qw || !used || !out) goto fail;
    for (Py_ssize_t p = 0; p < nq; p++) {
        qw[p] = PyFloat_AsDouble(PyList_GET_ITEM(weights_obj, p));
        if (qw[p] == -1.0 && PyErr_Occurred()) goto fail;
    }
    /* At a million names the records and tokens are far beyond the caches and each candidate
       would wait on a miss for its record, then one per token: ask for the record of the
       candidate AHEAD places on, and for the tokens of the one half as far, whose record has
       arrived by then. */
    for (Py_ssize_t c = 0; c < n && c < SCORE_AHEAD; c++) __builtin_prefetch(&s->names[s->cands[c]]);
    for (Py_ssize_t c = 0; c < n; c++) {
        if (c + SCORE_AHEAD < n) __builtin_prefetch(&s->names[s->cands[c + SCORE_AHEAD]]);
        if (c + SCORE_AHEAD / 2 < n) prefetch_name_tokens(s, &s->names[s->cands[c + SCORE_AHEAD / 2]]);
        int32_t slot = s->cands[c];
        const Name *name = &s->names[slot];
        const int32_t *ids = name_tokens(s, name);
        const uint32_t len = name->len;
        double total_entry = 0.0;
        for (uint32_t i = 0; i < len; i++) total_entry += weight_of(s, &s->tokens[ids[i]]);
        if (total_entry == 0.0) continue;
        memset(used, 0, (size_t)nq);
        double matched_entry = 0.0, matched_query = 0.0, missed = 0.0, half = total_entry / 2;
        Py_ssize_t low = nq, high = -1, count = 0;
        int distinctive_hit = 0, unmatched_entry = 0, sunk = 0;
        for (uint32_t i = 0; i < len && !sunk; i++) {
            Token *token = &s->tokens[ids[i]];
            double w = weight_of(s, token);
            int explained = 0;
            if (token->reach_mark == reach_epoch) {
                int32_t base = token->reach_at, k = token->reach_cnt;
                for (int32_t o = base; o < base + k; o++) {
                    int32_t position = s->opt_pos[o];
                    if (!used[position]) {  /* each query word explains one listed word */
                        used[position] = 1;
                        count++;
                        matched_entry += w * s->opt_sim[o];
                        matched_query += qw[position];
                        if (position < low) low = position;
                        if (position > high) high = position;
                        if (w >= 1.0) distinctive_hit = 1;
                        explained = 1;
                        break;
                    }
                }
            }
            if (!explained) {
                unmatched_entry++;
                missed += w;
                if (missed >= half) sunk = 1;  /* recall <= 0.5 */
            }
        }
        if (sunk) continue;
        double recall = matched_entry / total_entry;
        if (recall <= 0.5) continue;
        Py_ssize_t span_length;
        double total_query;
        if (in_text) {  /* the name is the run of the window that matched */
            span_length = high - low + 1;
            total_query = 0.0;
            for (Py_ssize_t p = low; p <= high; p++) total_query += qw[p];
        } else {
            span_length = nq;
            total_query = whole_query;
        }
        double precision = total_query != 0.0 ? matched_query / total_query : 0.0;
        int person = (name->flags & PERSON) != 0;
        double score = person ? recall * pow(precision, 0.5) : recall * precision;
        if (unmatched_entry && count < span_length) score *= 0.5;
        else if (unmatched_entry && !distinctive_hit) score *= 0.6;
        if (form && name->form && form != name->form) score *= 0.92;
        if (score <= 0.5) continue;
        if (want_person >= 0 && person != want_person) {
            score *= 0.9;
            if (score <= 0.5) continue;
        }
        PyObject *pair = Py_BuildValue("(id)", slot, score);
        if (!pair || PyList_Append(out, pair) < 0) { Py_XDECREF(pair); goto fail; }
        Py_DECREF(pair);
    }
    PyMem_Free(qw);
    PyMem_Free(used);
    return out;
fail:
    PyMem_Free(qw);
    PyMem_Free(used);
    Py_XDECREF(out);
    return NULL;
}

static PyObject *Store_get_live(Store *s, void *closure) { return PyLong_FromSsize_t(s->live); }

static PyObject *Store_nbytes(Store *s, PyObject *unused) {
    size_t bytes = (size_t)s->cap_slots * sizeof(Name) + (size_t)s->pool_cap * 4 + (size_t)s->cap_tokens * sizeof(Token)
                   + (size_t)s->text_cap + (size_t)s->nb_cap * 12;
    for (Py_ssize_t t = 0; t < s->n_tokens; t++) bytes += (size_t)s->tokens[t].cap * 4;
    return PyLong_FromSize_t(bytes);
}

static PyMethodDef Store_methods[] = {
    {"add_token", (PyCFunction)Store_add_token, METH_VARARGS, "add_token(text, generic) -> token id"},
    {"forget_token", (PyCFunction)Store_forget_token, METH_O, "forget_token(id): out of the neighbourhoods"},
    {"similar", (PyCFunction)Store_similar, METH_VARARGS,
     "similar(text, exact id or -1) -> (size, token ids, similarities): the token and those one edit away"},
    {"add_name", (PyCFunction)Store_add_name, METH_VARARGS, "add_name(token ids, person, form id) -> slot"},
    {"remove_name", (PyCFunction)Store_remove_name, METH_O, "remove_name(slot)"},
    {"df", (PyCFunction)Store_df, METH_O, "df(token id) -> how many names hold it"},
    {"candidates", (PyCFunction)Store_candidates, METH_VARARGS,
     "candidates(mode, first, second, explicit, small_groups) -> slots, ascending"},
    {"union", (PyCFunction)Store_union, METH_O, "union(token ids) -> sorted slots of their names, as int32 bytes"},
    {"size", (PyCFunction)Store_size, METH_O, "size(token ids) -> how many names their posting lists hold"},
    {"exact", (PyCFunction)Store_exact, METH_O, "exact(distinct token ids) -> slots of names made of exactly them"},
    {"led_by", (PyCFunction)Store_led_by, METH_O,
     "led_by(token id) -> (weight sums ascending, slots): short names in which the token weighs at least half"},
    {"match", (PyCFunction)Store_match, METH_VARARGS,
     "match(mode, first, second, explicit, small_groups, positions, query_weights, whole_query, form, "
     "want_person, in_text) -> [(slot, score)]"},
    {"nbytes", (PyCFunction)Store_nbytes, METH_NOARGS, "bytes held by the arrays"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Store_getset[] = {
    {"live", (getter)Store_get_live, NULL, "names held", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject StoreType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "services.matcher.screening._kernel.Store",
    .tp_basicsize = sizeof(Store),
    .tp_dealloc = (destructor)Store_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The watchlist's names as token ids, their posting lists, and the name score.",
    .tp_methods = Store_methods,
    .tp_getset = Store_getset,
    .tp_init = (initproc)Store_init,
    .tp_new = PyType_GenericNew,
};

static struct PyModuleDef kernel_module = {
    PyModuleDef_HEAD_INIT, "_kernel", "Screening kernel: compact posting lists and the name score.", -1, NULL,
};

PyMODINIT_FUNC PyInit__kernel(void) {
    if (PyType_Ready(&StoreType) < 0) return NULL;
    PyObject *m = PyModule_Create(&kernel_module);
    if (!m) return NULL;
    Py_INCREF(&StoreType);
    if (PyModule_AddObject(m, "Store", (PyObject *)&StoreType) < 0) {
        Py_DECREF(&StoreType);
        Py_DECREF(m);
        return NULL;
    }
    PyModule_AddIntConstant(m, "EXPLICIT", MODE_EXPLICIT);
    PyModule_AddIntConstant(m, "RARE", MODE_RARE);
    PyModule_AddIntConstant(m, "BOTH", MODE_BOTH);
    return m;
}
