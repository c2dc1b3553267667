/* The screening kernel: the watchlist's names as integer token ids in flat arrays, posting
 * lists as sorted arrays of name slots, the typo neighbourhoods of every listed spelling, and
 * the two steps that touch many names per query (candidate retrieval, then the name score of
 * each candidate) in C.
 *
 * Why: at a million names, a Python index spent most of a query reading objects spread over a
 * gigabyte (a cache miss for each name record, its token tuple, each token's weight), and about
 * two microseconds of interpreter work per candidate. Here a candidate costs a few array reads.
 *
 * What stays in Python (index.py, blocking.py, engine.py): the vocabulary (word -> id), the
 * identifiers, which blocking path a query takes, and the explanation of a match. The word
 * similarity and the name score are the definitions of words.py and scoring.py, written with
 * the same floating-point operations in the same order (compiled with -ffp-contract=off), with
 * the constants of model.py handed in when a Store is made, so that results equal the Python
 * definitions to the last bit (tests/screening/test_kernel.py). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { TOKEN_GENERIC = 1, TOKEN_PLACE = 2 };
enum { QUERY_WEAK = 1, QUERY_GENERIC = 2, QUERY_PLACE = 4 };

/* One listed word: its posting list and what a query needs of it, in one place (a cache miss
   per token read, not one per array). */
typedef struct {
    int32_t *postings;     /* the slots of the names holding it, ascending (slots only grow) */
    uint32_t len, cap;
    double idf;            /* valid while idf_gen == the store's generation */
    uint64_t idf_gen;
    uint32_t reach_mark;   /* the query that last reached it, and where its options are */
    int32_t reach_at, reach_cnt;
    uint8_t flags;         /* TOKEN_GENERIC, TOKEN_PLACE */
} Token;

/* One spelling of a listed word (its key, or a way the watchlist writes it: "hardjono" for the
   key "haryono"): the typo neighbourhoods are of spellings, and a found spelling counts for its
   word. */
typedef struct {
    int32_t token;
    uint32_t text_off;
    uint16_t text_len;
    uint8_t alive;
} Spelling;

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

/* model.py's constants, as the Store was made with them */
typedef struct {
    double one_edit, one_edit_short, two_edits_long, two_edits, listed_neighbour;
    double generic_factor, place_factor;
    double left_out_weight, left_out_middle_weight, added_weight, differing_word, differing_weak_word;
    double form_differs, kind_differs, in_ad_text, ambiguous_part;
    int min_fuzzy, min_two_edit;
} Model;

typedef struct {
    PyObject_HEAD
    Model m;
    Name *names;  /* by slot */
    Py_ssize_t n_slots, cap_slots, live;
    int32_t *owners;  /* by slot: the entry the name belongs to (an entry has a name and its aliases) */
    Py_ssize_t cap_owners;
    int32_t *pool;
    Py_ssize_t pool_len, pool_cap;
    Token *tokens;  /* by id */
    Py_ssize_t n_tokens, cap_tokens;
    Spelling *spellings;  /* by id */
    Py_ssize_t n_spellings, cap_spellings;
    char *text;  /* the spellings' letters */
    Py_ssize_t text_len, text_cap;
    /* typo neighbourhoods (SymSpell): a multimap from the hash of each deletion variant of a
       spelling (itself, one letter less; two less for long ones) to the spelling; a hash shared
       by chance only adds a candidate that the distance check drops */
    uint64_t *nb_hash;
    int32_t *nb_spelling;  /* NB_EMPTY, NB_GONE or the spelling id */
    Py_ssize_t nb_cap, nb_used, nb_gone;
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
#define MAX_FUZZY_LEN 64  /* longer words are compared exactly */
#define SCORE_AHEAD 8  /* records asked for ahead of their reading (prefetch) */
#define FILTER_AHEAD 32  /* the same, in a loop that does little else per record */
#define SEEN_WORDS 64  /* a 4096-bit filter of a token group's ids */
#define MAX_QUERY 64  /* words in one query: a name is a few */

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
    void *arrays[] = {s->names, s->owners, s->pool, s->tokens, s->spellings, s->cands, s->near, s->group, s->opt_sim,
                      s->opt_pos, s->reached, s->text, s->nb_hash, s->nb_spelling};
    for (size_t i = 0; i < sizeof arrays / sizeof arrays[0]; i++) PyMem_Free(arrays[i]);
    Py_TYPE(s)->tp_free((PyObject *)s);
}

static int Store_init(Store *s, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"one_edit", "one_edit_short", "two_edits_long", "two_edits",
                             "listed_neighbour", "generic_factor", "place_factor", "left_out_weight",
                             "left_out_middle_weight", "added_weight", "differing_word", "differing_weak_word",
                             "form_differs", "kind_differs", "in_ad_text", "ambiguous_part", "min_fuzzy",
                             "min_two_edit", NULL};
    Model *m = &s->m;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "$ddddddddddddddddii", kwlist, &m->one_edit, &m->one_edit_short,
                                     &m->two_edits_long, &m->two_edits, &m->listed_neighbour,
                                     &m->generic_factor, &m->place_factor, &m->left_out_weight,
                                     &m->left_out_middle_weight, &m->added_weight, &m->differing_word,
                                     &m->differing_weak_word, &m->form_differs, &m->kind_differs, &m->in_ad_text,
                                     &m->ambiguous_part, &m->min_fuzzy, &m->min_two_edit))
        return -1;
    if (m->min_fuzzy < 2 || m->min_two_edit <= m->min_fuzzy) {
        PyErr_SetString(PyExc_ValueError, "min_fuzzy >= 2 and min_two_edit > min_fuzzy");
        return -1;
    }
    s->reach_epoch = 1;
    s->generation = 1;
    return 0;
}

/* scoring.py's weight: a word's rarity among the listed names (words.py's idf), lowered for a
   firm's generic words and for places */
static inline double idf_of(Store *s, Token *token) {
    if (token->idf_gen == s->generation) return token->idf;
    double idf = log((double)(s->live + 1) / (double)(token->len + 1)) + 1.0;
    token->idf = idf;
    token->idf_gen = s->generation;
    return idf;
}

static inline double weigh(const Model *m, double idf, int generic, int place, int person) {
    if (!person && generic) return idf * m->generic_factor;
    if (place) return idf * m->place_factor;
    return idf;
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

/* ------------------------------------------------------------------ word similarity */

/* Optimal string alignment distance (adjacent transpositions count one), or 3 when above 2 */
static int osa_upto2(const char *a, Py_ssize_t la, const char *b, Py_ssize_t lb) {
    if (la - lb > 2 || lb - la > 2) return 3;
    if (la > MAX_FUZZY_LEN || lb > MAX_FUZZY_LEN) return la == lb && memcmp(a, b, (size_t)la) == 0 ? 0 : 3;
    int d[MAX_FUZZY_LEN + 1][MAX_FUZZY_LEN + 1];
    for (Py_ssize_t i = 0; i <= la; i++) d[i][0] = (int)i;
    for (Py_ssize_t j = 0; j <= lb; j++) d[0][j] = (int)j;
    for (Py_ssize_t i = 1; i <= la; i++) {
        int row_min = 3;
        for (Py_ssize_t j = 1; j <= lb; j++) {
            int cost = a[i - 1] != b[j - 1];
            int v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v) v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v) v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
            if (v < row_min) row_min = v;
        }
        if (row_min > 2) return 3;
    }
    return d[la][lb] > 2 ? 3 : d[la][lb];
}

static int swapped(const char *a, const char *b, Py_ssize_t n) {
    Py_ssize_t first = -1, count = 0;
    for (Py_ssize_t i = 0; i < n; i++)
        if (a[i] != b[i]) { if (first < 0) first = i; count++; }
    return count == 2 && b[first] == a[first + 1] && a[first] == b[first + 1];
}

/* words.py's edit_similarity */
static double edit_similarity(const Model *m, int distance, const char *q, Py_ssize_t lq, const char *l,
                              Py_ssize_t ll) {
    Py_ssize_t letters = lq > ll ? lq : ll, shortest = lq < ll ? lq : ll;
    if (distance == 1) {
        if (letters >= 5) return m->one_edit;
        if (letters == m->min_fuzzy)
            return lq == ll && !swapped(q, l, lq) ? 0.0 : m->one_edit_short;  /* a changed letter: no */
        return 0.0;
    }
    if (distance == 2 && shortest >= m->min_two_edit - 1) {
        if (letters >= 8) return m->two_edits_long;
        if (letters == m->min_two_edit) return m->two_edits;
    }
    return 0.0;
}

/* ------------------------------------------------------------------ neighbourhoods */

static inline uint64_t mix(uint64_t h) {  /* splitmix64's finaliser: spread FNV's low bits */
    h ^= h >> 30; h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27; h *= 0x94d049bb133111ebULL;
    return h ^ (h >> 31);
}

/* FNV-1a of text without its letters at skip1 and skip2 (len: none), and the length left */
static uint64_t variant_hash(const char *text, Py_ssize_t len, Py_ssize_t skip1, Py_ssize_t skip2) {
    uint64_t h = 0xcbf29ce484222325ULL;
    Py_ssize_t kept = 0;
    for (Py_ssize_t i = 0; i < len; i++) {
        if (i == skip1 || i == skip2) continue;
        h ^= (unsigned char)text[i];
        h *= 0x100000001b3ULL;
        kept++;
    }
    return mix(h ^ (uint64_t)kept);
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static Py_ssize_t variant_room(const Model *m, Py_ssize_t len) {
    Py_ssize_t room = 1;
    if (len >= m->min_fuzzy - 1) room += len;
    if (len >= m->min_two_edit) room += len * (len - 1) / 2;
    return room;
}

/* The distinct variant hashes of a spelling: itself; with one letter less when a one-edit
   neighbour can count (min_fuzzy - 1 letters or more); with two less when it has min_two_edit
   letters or more. Two words two edits apart, the longer of min_two_edit letters, always share a
   variant so: the longer one's two-less variants meet the shorter one itself, its one-less or
   its two-less (when it has min_two_edit letters too); pairs of shorter words count nothing
   (words.py), and a dense vocabulary of short words would give thousands of such candidates.
   out has variant_room(len) places. */
static Py_ssize_t variants(const Model *m, const char *text, Py_ssize_t len, uint64_t *out) {
    Py_ssize_t k = 0;
    out[k++] = variant_hash(text, len, len, len);
    if (len <= MAX_FUZZY_LEN && len >= m->min_fuzzy - 1) {
        for (Py_ssize_t i = 0; i < len; i++) out[k++] = variant_hash(text, len, i, len);
        if (len >= m->min_two_edit)
            for (Py_ssize_t i = 0; i < len; i++)
                for (Py_ssize_t j = i + 1; j < len; j++) out[k++] = variant_hash(text, len, i, j);
    }
    qsort(out, (size_t)k, sizeof(uint64_t), cmp_u64);
    Py_ssize_t u = 1;
    for (Py_ssize_t i = 1; i < k; i++)
        if (out[i] != out[u - 1]) out[u++] = out[i];
    return u;
}

static void nb_insert_raw(Store *s, uint64_t hash, int32_t spelling) {
    size_t mask = (size_t)s->nb_cap - 1, at = (size_t)hash & mask;
    while (s->nb_spelling[at] >= 0) at = (at + 1) & mask;
    if (s->nb_spelling[at] == NB_GONE) s->nb_gone--; else s->nb_used++;
    s->nb_hash[at] = hash;
    s->nb_spelling[at] = spelling;
}

static int nb_reserve(Store *s, Py_ssize_t more) {
    if ((s->nb_used + more) * 2 <= s->nb_cap) return 0;
    Py_ssize_t live = s->nb_used - s->nb_gone, cap = s->nb_cap ? s->nb_cap : 1024;
    while ((live + more) * 2 > cap) cap *= 2;
    uint64_t *old_hash = s->nb_hash;
    int32_t *old_spelling = s->nb_spelling;
    Py_ssize_t old_cap = s->nb_cap;
    uint64_t *hash = PyMem_Malloc((size_t)cap * sizeof(uint64_t));
    int32_t *spelling = PyMem_Malloc((size_t)cap * sizeof(int32_t));
    if (!hash || !spelling) { PyMem_Free(hash); PyMem_Free(spelling); PyErr_NoMemory(); return -1; }
    for (Py_ssize_t i = 0; i < cap; i++) spelling[i] = NB_EMPTY;
    s->nb_hash = hash; s->nb_spelling = spelling; s->nb_cap = cap; s->nb_used = 0; s->nb_gone = 0;
    for (Py_ssize_t i = 0; i < old_cap; i++)  /* re-inserted without the tombstones */
        if (old_spelling[i] >= 0) nb_insert_raw(s, old_hash[i], old_spelling[i]);
    PyMem_Free(old_hash);
    PyMem_Free(old_spelling);
    return 0;
}

static inline const char *spelling_text(const Store *s, const Spelling *sp) { return s->text + sp->text_off; }

/* reserve(spellings): room in the neighbourhood table for about this many more spellings, so
   that a bulk build does not rehash it again and again */
static PyObject *Store_reserve(Store *s, PyObject *arg) {
    Py_ssize_t more = PyLong_AsSsize_t(arg);
    if (more == -1 && PyErr_Occurred()) return NULL;
    if (more > 0 && nb_reserve(s, more * 12) < 0) return NULL;
    Py_RETURN_NONE;
}

/* add_token(generic, place) -> token id (a word with no spelling yet: add_spelling gives it its key) */
static PyObject *Store_add_token(Store *s, PyObject *args) {
    int generic, place;
    if (!PyArg_ParseTuple(args, "pp", &generic, &place)) return NULL;
    if (s->n_tokens >= INT32_MAX) {
        PyErr_SetString(PyExc_OverflowError, "too many tokens");
        return NULL;
    }
    if (grow((void **)&s->tokens, &s->cap_tokens, s->n_tokens + 1, sizeof(Token), 1) < 0) return NULL;
    Token *token = &s->tokens[s->n_tokens];
    token->flags = (uint8_t)((generic ? TOKEN_GENERIC : 0) | (place ? TOKEN_PLACE : 0));
    return PyLong_FromSsize_t(s->n_tokens++);
}

/* add_spelling(token id, text) -> spelling id: the word is written so; it joins the neighbourhoods */
static PyObject *Store_add_spelling(Store *s, PyObject *args) {
    long t;
    const char *text;
    Py_ssize_t len;
    if (!PyArg_ParseTuple(args, "ls#", &t, &text, &len)) return NULL;
    if (check_token(s, t) < 0) return NULL;
    if (len == 0 || len > MAX_TOKEN_LEN || s->n_spellings >= INT32_MAX || s->text_len + len > UINT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "a spelling is 1 to 65535 bytes, and at most 2**31 of them");
        return NULL;
    }
    if (grow((void **)&s->spellings, &s->cap_spellings, s->n_spellings + 1, sizeof(Spelling), 1) < 0) return NULL;
    if (grow((void **)&s->text, &s->text_cap, s->text_len + len, 1, 0) < 0) return NULL;
    uint64_t *hashes = PyMem_Malloc((size_t)variant_room(&s->m, len) * sizeof(uint64_t));
    if (!hashes) return PyErr_NoMemory();
    Py_ssize_t k = variants(&s->m, text, len, hashes);
    if (nb_reserve(s, k) < 0) { PyMem_Free(hashes); return NULL; }
    int32_t id = (int32_t)s->n_spellings;
    for (Py_ssize_t i = 0; i < k; i++) nb_insert_raw(s, hashes[i], id);
    PyMem_Free(hashes);
    Spelling *sp = &s->spellings[s->n_spellings++];
    memcpy(s->text + s->text_len, text, (size_t)len);
    sp->token = (int32_t)t;
    sp->text_off = (uint32_t)s->text_len;
    sp->text_len = (uint16_t)len;
    sp->alive = 1;
    s->text_len += len;
    return PyLong_FromLong(id);
}

/* forget_spelling(spelling id): no listed name writes the word so any more (its id is not reused) */
static PyObject *Store_forget_spelling(Store *s, PyObject *arg) {
    long id = PyLong_AsLong(arg);
    if (id == -1 && PyErr_Occurred()) return NULL;
    if (id < 0 || id >= s->n_spellings || !s->spellings[id].alive) {
        PyErr_Format(PyExc_IndexError, "no spelling %ld", id);
        return NULL;
    }
    Spelling *sp = &s->spellings[id];
    Py_ssize_t len = sp->text_len;
    uint64_t *hashes = PyMem_Malloc((size_t)variant_room(&s->m, len) * sizeof(uint64_t));
    if (!hashes) return PyErr_NoMemory();
    Py_ssize_t k = variants(&s->m, spelling_text(s, sp), len, hashes);
    size_t mask = (size_t)s->nb_cap - 1;
    for (Py_ssize_t i = 0; i < k; i++) {
        for (size_t at = (size_t)hashes[i] & mask; s->nb_spelling[at] != NB_EMPTY; at = (at + 1) & mask) {
            if (s->nb_spelling[at] == (int32_t)id && s->nb_hash[at] == hashes[i]) {
                s->nb_spelling[at] = NB_GONE;
                s->nb_gone++;
                break;
            }
        }
    }
    PyMem_Free(hashes);
    sp->alive = 0;
    Py_RETURN_NONE;
}

/* similar(key, surface, exact token id or -1, common df) -> (how many names hold them, token
   ids, similarities, the most a name can gain from them: the highest similarity times idf, the
   ids of those held by more than common df names): the
   listed words like the query word (words.py's word_similarity for every
   listed word: the exact one at 1.0, the others by their closest spelling, lowered by
   listed_neighbour when the query word is itself listed), ascending by id after the exact one */
static PyObject *Store_similar(Store *s, PyObject *args) {
    const char *key, *surface;
    Py_ssize_t key_len, surface_len;
    long exact, common_df;
    if (!PyArg_ParseTuple(args, "s#s#ll", &key, &key_len, &surface, &surface_len, &exact, &common_df)) return NULL;
    if (exact != -1 && check_token(s, exact) < 0) return NULL;
    const char *query[2] = {key, surface};
    Py_ssize_t query_len[2] = {key_len, surface_len};
    int n_query = surface_len == key_len && memcmp(key, surface, (size_t)key_len) == 0 ? 1 : 2;
    Py_ssize_t found = 0;  /* spelling ids, into s->near */
    if (s->nb_cap) {
        size_t mask = (size_t)s->nb_cap - 1;
        for (int q = 0; q < n_query; q++) {
            if (query_len[q] > MAX_FUZZY_LEN || query_len[q] < s->m.min_fuzzy - 1) continue;
            uint64_t hashes[1 + MAX_FUZZY_LEN + MAX_FUZZY_LEN * (MAX_FUZZY_LEN - 1) / 2];
            Py_ssize_t k = variants(&s->m, query[q], query_len[q], hashes);
            /* each step waits on memory far beyond the caches at a million names: ask for all of
               a step's lines before reading any */
            for (Py_ssize_t i = 0; i < k; i++) {
                __builtin_prefetch(&s->nb_spelling[(size_t)hashes[i] & mask]);
                __builtin_prefetch(&s->nb_hash[(size_t)hashes[i] & mask]);
            }
            for (Py_ssize_t i = 0; i < k; i++) {
                for (size_t at = (size_t)hashes[i] & mask; s->nb_spelling[at] != NB_EMPTY; at = (at + 1) & mask) {
                    int32_t sp = s->nb_spelling[at];
                    if (sp < 0 || s->nb_hash[at] != hashes[i]) continue;
                    if (grow((void **)&s->near, &s->near_cap, found + 1, sizeof(int32_t), 0) < 0) return NULL;
                    s->near[found++] = sp;
                }
            }
        }
    }
    found = sort_unique(s->near, found);
    for (Py_ssize_t i = 0; i < found; i++) __builtin_prefetch(&s->spellings[s->near[i]]);
    /* each listed word found, with the best similarity of its spellings: a word has a few
       neighbours, so a linear look for one already found does */
    Py_ssize_t n = 0, cap = 0;
    int32_t *ids = NULL;
    double *sims = NULL;
    if (exact >= 0) {
        if (grow((void **)&ids, &cap, 1, sizeof(int32_t), 0) < 0) return NULL;
        Py_ssize_t cap2 = 0;
        if (grow((void **)&sims, &cap2, cap, sizeof(double), 0) < 0) { PyMem_Free(ids); return NULL; }
        ids[n] = (int32_t)exact;
        sims[n++] = 1.0;
    }
    Py_ssize_t first_fuzzy = n;
    for (Py_ssize_t i = 0; i < found; i++) {
        const Spelling *sp = &s->spellings[s->near[i]];
        if (sp->token == exact) continue;
        double best = 0.0;
        for (int q = 0; q < n_query; q++) {
            int d = osa_upto2(query[q], query_len[q], spelling_text(s, sp), sp->text_len);
            if (d >= 1 && d <= 2) {
                double sim = edit_similarity(&s->m, d, query[q], query_len[q], spelling_text(s, sp), sp->text_len);
                if (sim > best) best = sim;
            }
        }
        if (best == 0.0) continue;
        Py_ssize_t at = first_fuzzy;
        while (at < n && ids[at] != sp->token) at++;
        if (at < n) {
            if (best > sims[at]) sims[at] = best;
            continue;
        }
        Py_ssize_t cap2 = cap;
        if (grow((void **)&ids, &cap, n + 1, sizeof(int32_t), 0) < 0) { PyMem_Free(sims); return NULL; }
        if (grow((void **)&sims, &cap2, cap, sizeof(double), 0) < 0) { PyMem_Free(ids); return NULL; }
        ids[n] = sp->token;
        sims[n++] = best;
    }
    /* ascending by id after the exact word, as the Python reference lists them */
    for (Py_ssize_t i = first_fuzzy + 1; i < n; i++) {
        int32_t id = ids[i];
        double sim = sims[i];
        Py_ssize_t j = i;
        while (j > first_fuzzy && ids[j - 1] > id) { ids[j] = ids[j - 1]; sims[j] = sims[j - 1]; j--; }
        ids[j] = id;
        sims[j] = sim;
    }
    PyObject *id_tuple = PyTuple_New(n), *sim_tuple = PyTuple_New(n), *common = NULL;
    Py_ssize_t size = 0, n_common = 0;
    double most = 0.0;
    if (!id_tuple || !sim_tuple) goto fail;
    for (Py_ssize_t i = 0; i < n; i++) n_common += s->tokens[ids[i]].len > (uint32_t)common_df;
    common = PyTuple_New(n_common);
    if (!common) goto fail;
    n_common = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        double sim = i < first_fuzzy ? sims[i] : (exact >= 0 ? sims[i] * s->m.listed_neighbour : sims[i]);
        double reach = sim * idf_of(s, &s->tokens[ids[i]]);
        if (reach > most) most = reach;
        PyObject *id = PyLong_FromLong(ids[i]), *sim_obj = PyFloat_FromDouble(sim);
        if (!id || !sim_obj) { Py_XDECREF(id); Py_XDECREF(sim_obj); goto fail; }
        if (s->tokens[ids[i]].len > (uint32_t)common_df) {
            Py_INCREF(id);
            PyTuple_SET_ITEM(common, n_common++, id);
        }
        PyTuple_SET_ITEM(id_tuple, i, id);
        PyTuple_SET_ITEM(sim_tuple, i, sim_obj);
        size += s->tokens[ids[i]].len;
    }
    PyMem_Free(ids);
    PyMem_Free(sims);
    return Py_BuildValue("(nNNdN)", size, id_tuple, sim_tuple, most, common);
fail:
    PyMem_Free(ids);
    PyMem_Free(sims);
    Py_XDECREF(id_tuple);
    Py_XDECREF(sim_tuple);
    Py_XDECREF(common);
    return NULL;
}

static PyObject *Store_add_name(Store *s, PyObject *args) {
    PyObject *tokens;
    int person, form;
    long owner;
    if (!PyArg_ParseTuple(args, "O!pil", &PyTuple_Type, &tokens, &person, &form, &owner)) return NULL;
    if (owner < 0 || owner > INT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "an owner is a non-negative int32");
        return NULL;
    }
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
    if (grow((void **)&s->owners, &s->cap_owners, s->n_slots + 1, sizeof(int32_t), 0) < 0) return NULL;
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
    s->owners[s->n_slots] = (int32_t)owner;
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

/* idf(token id) -> the word's rarity among the listed names, as the name score weighs it */
static PyObject *Store_idf(Store *s, PyObject *arg) {
    long t = PyLong_AsLong(arg);
    if (t == -1 && PyErr_Occurred()) return NULL;
    if (check_token(s, t) < 0) return NULL;
    return PyFloat_FromDouble(idf_of(s, &s->tokens[t]));
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
 *   rare:     the names of the first group's tokens, the names made of one of the second
 *             group's tokens alone (a mononym), and the explicit slots (int32 bytes) if given
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
        if (explicit_slots != Py_None) {  /* names blocking found apart (blocking.py's common words) */
            if (!PyBytes_Check(explicit_slots) || PyBytes_GET_SIZE(explicit_slots) % sizeof(int32_t)) {
                PyErr_SetString(PyExc_TypeError, "explicit slots on the rare path: int32 bytes");
                return -1;
            }
            Py_ssize_t k = PyBytes_GET_SIZE(explicit_slots) / (Py_ssize_t)sizeof(int32_t);
            if (grow((void **)&s->cands, &s->cands_cap, n + k, sizeof(int32_t), 0) < 0) return -1;
            const int32_t *slots = (const int32_t *)PyBytes_AS_STRING(explicit_slots);
            for (Py_ssize_t i = 0; i < k; i++) {
                if (check_slot(s, slots[i]) < 0) return -1;
                s->cands[n++] = slots[i];
            }
        }
        if (second != Py_None) {  /* words whose names count only when made of that word alone */
            for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(second); i++) {
                Token *token;
                if (token_arg(s, second, i, &token) < 0) return -1;
                int32_t id = (int32_t)(token - s->tokens);
                if (grow((void **)&s->cands, &s->cands_cap, n + token->len, sizeof(int32_t), 0) < 0) return -1;
                for (uint32_t j = 0; j < token->len; j++) {
                    if (j + FILTER_AHEAD < token->len) __builtin_prefetch(&s->names[token->postings[j + FILTER_AHEAD]]);
                    const Name *name = &s->names[token->postings[j]];
                    const int32_t *ids = name_tokens(s, name);
                    uint32_t a = 0;
                    while (a < name->len && ids[a] == id) a++;
                    if (a == name->len) s->cands[n++] = token->postings[j];
                }
            }
        }
        return sort_unique(s->cands, n);
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

/* candidates() for the (mode, first, second, explicit, small_groups) of a Python call */
static Py_ssize_t candidates_of(Store *s, PyObject *args) {
    int mode;
    PyObject *first, *second, *explicit_slots;
    Py_ssize_t small_groups;
    if (!PyArg_ParseTuple(args, "iOOOn", &mode, &first, &second, &explicit_slots, &small_groups)) return -1;
    return candidates(s, mode, first, second, explicit_slots, small_groups);
}

/* candidate_bytes(...): candidates(...) as int32 bytes, for caching and handing back */
static PyObject *Store_candidate_bytes(Store *s, PyObject *args) {
    Py_ssize_t n = candidates_of(s, args);
    return n < 0 ? NULL : PyBytes_FromStringAndSize((const char *)s->cands, n * (Py_ssize_t)sizeof(int32_t));
}

static PyObject *Store_candidates(Store *s, PyObject *args) {
    Py_ssize_t n = candidates_of(s, args);
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

/* led_by(token id, max ratio) -> ((ratios, slots) of firms' names, (ratios, slots) of persons'):
   the names holding this word whose other words weigh at most max ratio times this word (as
   their kind weighs them, a repeat of it counting as another word), by that ratio ascending
   (ties in slot order), ratios as doubles and slots as int32 in bytes: a query matching one
   common word alone can only reach the names in which that word carries enough (blocking.py
   bisects the ratios and hands the slots back). */
typedef struct { double ratio; int32_t slot; } Led;

static int cmp_led(const void *a, const void *b) {
    const Led *x = a, *y = b;
    if (x->ratio != y->ratio) return x->ratio < y->ratio ? -1 : 1;
    return (x->slot > y->slot) - (x->slot < y->slot);
}

static PyObject *led_pair(const Led *led, Py_ssize_t n) {
    PyObject *ratios = PyBytes_FromStringAndSize(NULL, n * (Py_ssize_t)sizeof(double));
    PyObject *slots = PyBytes_FromStringAndSize(NULL, n * (Py_ssize_t)sizeof(int32_t));
    if (!ratios || !slots) { Py_XDECREF(ratios); Py_XDECREF(slots); return NULL; }
    double *r = (double *)PyBytes_AS_STRING(ratios);
    int32_t *sl = (int32_t *)PyBytes_AS_STRING(slots);
    for (Py_ssize_t i = 0; i < n; i++) { r[i] = led[i].ratio; sl[i] = led[i].slot; }
    return Py_BuildValue("(NN)", ratios, slots);
}

static PyObject *Store_led_by(Store *s, PyObject *args) {
    long t;
    double max_ratio;
    if (!PyArg_ParseTuple(args, "ld", &t, &max_ratio) || check_token(s, t) < 0) return NULL;
    Token *token = &s->tokens[t];
    double idf = idf_of(s, token);
    Led *led = PyMem_Malloc((size_t)(token->len ? token->len : 1) * 2 * sizeof(Led));
    if (!led) return PyErr_NoMemory();
    Led *kinds[2] = {led, led + (token->len ? token->len : 1)};
    Py_ssize_t n[2] = {0, 0};
    for (uint32_t j = 0; j < token->len; j++) {
        if (j + FILTER_AHEAD < token->len) __builtin_prefetch(&s->names[token->postings[j + FILTER_AHEAD]]);
        const Name *name = &s->names[token->postings[j]];
        const int32_t *ids = name_tokens(s, name);
        int person = (name->flags & PERSON) != 0;
        double own = weigh(&s->m, idf, token->flags & TOKEN_GENERIC, token->flags & TOKEN_PLACE, person);
        double rest = 0.0;
        int seen_self = 0;
        for (uint32_t a = 0; a < name->len; a++) {
            if (ids[a] == (int32_t)t && !seen_self) { seen_self = 1; continue; }
            Token *other = &s->tokens[ids[a]];
            rest += weigh(&s->m, idf_of(s, other), other->flags & TOKEN_GENERIC, other->flags & TOKEN_PLACE, person);
        }
        double ratio = own > 0.0 ? rest / own : INFINITY;
        if (ratio > max_ratio) continue;
        kinds[person][n[person]].ratio = ratio;
        kinds[person][n[person]++].slot = token->postings[j];
    }
    qsort(kinds[0], (size_t)n[0], sizeof(Led), cmp_led);
    qsort(kinds[1], (size_t)n[1], sizeof(Led), cmp_led);
    PyObject *firms = led_pair(kinds[0], n[0]), *persons = firms ? led_pair(kinds[1], n[1]) : NULL;
    PyMem_Free(led);
    if (!persons) { Py_XDECREF(firms); return NULL; }
    return Py_BuildValue("(NN)", firms, persons);
}

/* blocking.py's _led_ceiling */
static inline double led_ceiling(const Model *m, double w, double sim, double rest, double others, double cutoff) {
    if (w <= 0.0) return -1.0;
    return ((sim + rest / w) / cutoff - 1.0 - m->added_weight * others / w) / m->left_out_weight;
}

static int in_tuple(PyObject *tuple, PyObject *item) {
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(tuple); i++)
        if (PyLong_AsLong(PyTuple_GET_ITEM(tuple, i)) == PyLong_AsLong(item)) return 1;
    return 0;
}

/* block(groups, query_idf, query_flags, cutoff, common_df, few_names) -> None, or (first, alone,
 * extra, led, pairs): blocking.py's plan, in C (its docstring derives the bound). groups: the
 * query words as similar() gives them. first: the words whose names are all scored; alone:
 * the words whose names count only made of that word alone; extra: int32 bytes of names found
 * apart (a few-name word's names holding a word of another word taken); led: (token id, sim,
 * firm ceiling, person ceiling, firm alone ceiling, person alone ceiling, person weight, rest,
 * others_person, differs) of common words, for their cached lists; pairs: (a, b) query positions
 * both holding common words, for the cached intersections of their unions. */
static PyObject *Store_block(Store *s, PyObject *args) {
    PyObject *groups, *idf_obj;
    const char *flags;
    Py_ssize_t n_flags;
    double cutoff;
    long common_df, few_names;
    if (!PyArg_ParseTuple(args, "O!O!y#dll", &PyTuple_Type, &groups, &PyList_Type, &idf_obj, &flags, &n_flags,
                          &cutoff, &common_df, &few_names))
        return NULL;
    const Model *m = &s->m;
    Py_ssize_t n = PyTuple_GET_SIZE(groups);
    if (n == 0 || n > MAX_QUERY || PyList_GET_SIZE(idf_obj) != n || n_flags != n) {
        PyErr_SetString(PyExc_ValueError, "1 to 64 query words, with an idf and a flag byte each");
        return NULL;
    }
    long size[MAX_QUERY];
    double most[MAX_QUERY], added[MAX_QUERY][2], least[MAX_QUERY];
    PyObject *ids[MAX_QUERY], *sims[MAX_QUERY], *commons[MAX_QUERY];
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *g = PyTuple_GET_ITEM(groups, i);
        if (!PyTuple_Check(g) || PyTuple_GET_SIZE(g) != 5) {
            PyErr_SetString(PyExc_TypeError, "a query word: similar()'s (size, ids, sims, most, common)");
            return NULL;
        }
        size[i] = PyLong_AsLong(PyTuple_GET_ITEM(g, 0));
        ids[i] = PyTuple_GET_ITEM(g, 1);
        sims[i] = PyTuple_GET_ITEM(g, 2);
        most[i] = PyFloat_AsDouble(PyTuple_GET_ITEM(g, 3));
        commons[i] = PyTuple_GET_ITEM(g, 4);
        double idf = PyFloat_AsDouble(PyList_GET_ITEM(idf_obj, i));
        if (PyErr_Occurred()) return NULL;
        int weak = flags[i] & QUERY_WEAK, generic = flags[i] & QUERY_GENERIC, place = flags[i] & QUERY_PLACE;
        added[i][0] = weak ? 0.0 : weigh(m, idf, generic, place, 0);
        added[i][1] = weak ? 0.0 : weigh(m, idf, generic, place, 1);
        least[i] = added[i][0] < added[i][1] ? added[i][0] : added[i][1];
    }
    double k = m->added_weight * cutoff / (1.0 - cutoff);
    Py_ssize_t order[MAX_QUERY];
    for (Py_ssize_t i = 0; i < n; i++) {  /* rarest first, then in query order (insertion: a few words) */
        Py_ssize_t j = i;
        while (j > 0 && size[order[j - 1]] > size[i]) { order[j] = order[j - 1]; j--; }
        order[j] = i;
    }
    double remaining = 0.0, held_back = 0.0, total_most = 0.0;
    for (Py_ssize_t i = 0; i < n; i++) total_most += most[i];
    remaining = total_most;
    uint8_t is_taken[MAX_QUERY] = {0};
    Py_ssize_t n_taken_all = 0;
    for (Py_ssize_t o = 0; o < n; o++) {
        Py_ssize_t i = order[o];
        if (n_taken_all && remaining < k * held_back) break;
        is_taken[i] = 1;
        n_taken_all++;
        remaining -= most[i];
        held_back += least[i];
    }
    Py_ssize_t taken[MAX_QUERY], n_taken = 0, n_unmatched = 0;
    uint8_t everyone[MAX_QUERY] = {0};  /* taken with names, or held by no name (always added) */
    long taken_size = 0;
    double taken_most = 0.0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!size[i]) { everyone[i] = 1; n_unmatched++; continue; }
        if (is_taken[i]) { taken[n_taken++] = i; everyone[i] = 1; taken_size += size[i]; taken_most += most[i]; }
    }
    if (!n_taken) Py_RETURN_NONE;
    if (taken_size <= few_names) {  /* scoring them costs less than sifting them */
        Py_ssize_t total = 0;
        for (Py_ssize_t t = 0; t < n_taken; t++) total += PyTuple_GET_SIZE(ids[taken[t]]);
        PyObject *first = PyTuple_New(total);
        if (!first) return NULL;
        Py_ssize_t at = 0;
        for (Py_ssize_t t = 0; t < n_taken; t++)
            for (Py_ssize_t j = 0; j < PyTuple_GET_SIZE(ids[taken[t]]); j++) {
                PyObject *id = PyTuple_GET_ITEM(ids[taken[t]], j);
                Py_INCREF(id);
                PyTuple_SET_ITEM(first, at++, id);
            }
        return Py_BuildValue("(NOOOO)", first, Py_None, Py_None, Py_None, Py_None);
    }
    double rest = total_most - taken_most;
    Py_ssize_t n_everyone = n_taken + n_unmatched;
    PyObject *few = PyList_New(0), *alone = PyList_New(0), *led = PyList_New(0), *pairs = PyList_New(0);
    int32_t *extra = NULL;
    Py_ssize_t n_extra = 0, cap_extra = 0;
    if (!few || !alone || !led || !pairs) goto fail;
    for (Py_ssize_t t = 0; t < n_taken; t++) {
        Py_ssize_t i = taken[t];
        double others_firm = 0.0, others_person = 0.0;
        for (Py_ssize_t j = 0; j < n; j++)
            if (everyone[j] && j != i) { others_firm += added[j][0]; others_person += added[j][1]; }
        double fewest = others_firm < others_person ? others_firm : others_person;
        if (most[i] + rest < k * fewest) continue;  /* a name holding no other word taken cannot reach it */
        int differs = rest == 0.0 && n_everyone > 1;
        double needed = differs ? cutoff / m->differing_weak_word : cutoff;
        for (Py_ssize_t j = 0; j < PyTuple_GET_SIZE(ids[i]); j++) {
            Token *token;
            if (token_arg(s, ids[i], j, &token) < 0) goto fail;
            double sim = PyFloat_AsDouble(PyTuple_GET_ITEM(sims[i], j));
            if (rest == 0.0 && sim <= cutoff) continue;  /* not even the word alone reaches it */
            double idf = idf_of(s, token);
            int generic = token->flags & TOKEN_GENERIC, place = token->flags & TOKEN_PLACE;
            double w_firm = weigh(m, idf, generic, place, 0), w_person = weigh(m, idf, generic, place, 1);
            double firm = led_ceiling(m, w_firm, sim, rest, others_firm, needed);
            double person = led_ceiling(m, w_person, sim, rest, others_person, needed);
            double alone_firm = -1.0, alone_person = -1.0;
            if (differs) {
                alone_firm = led_ceiling(m, w_firm, sim, rest, others_firm, cutoff);
                alone_person = led_ceiling(m, w_person, sim, rest, others_person, cutoff);
            }
            if (firm < 0.0 && person < 0.0 && alone_firm < 0.0 && alone_person < 0.0) continue;
            PyObject *id = PyTuple_GET_ITEM(ids[i], j);
            if (token->len <= (uint32_t)common_df) {
                if (PyList_Append(firm >= 0.0 || person >= 0.0 ? few : alone, id) < 0) goto fail;
                continue;
            }
            PyObject *item = Py_BuildValue("(OddddddddO)", id, sim, firm, person, alone_firm, alone_person, w_person,
                                           rest, others_person, differs ? Py_True : Py_False);
            if (!item || PyList_Append(led, item) < 0) { Py_XDECREF(item); goto fail; }
            Py_DECREF(item);
        }
    }
    for (Py_ssize_t a = 0; a < n_taken; a++) {
        for (Py_ssize_t b = a + 1; b < n_taken; b++) {
            Py_ssize_t ia = taken[a], ib = taken[b];
            double others = 0.0;
            for (Py_ssize_t j = 0; j < n; j++)
                if (everyone[j] && j != ia && j != ib) others += least[j];
            if (most[ia] + most[ib] + rest < k * others) continue;  /* no pair of these can reach it */
            if (PyTuple_GET_SIZE(commons[ia]) && PyTuple_GET_SIZE(commons[ib])) {
                PyObject *pair = Py_BuildValue("(nn)", ia, ib);
                if (!pair || PyList_Append(pairs, pair) < 0) { Py_XDECREF(pair); goto fail; }
                Py_DECREF(pair);
            }
            for (int side = 0; side < 2; side++) {  /* a few-name word's names holding a word of the other */
                Py_ssize_t own = side ? ib : ia, other = side ? ia : ib;
                Py_ssize_t n_rare = 0;
                for (Py_ssize_t j = 0; j < PyTuple_GET_SIZE(ids[own]); j++)
                    n_rare += !in_tuple(commons[own], PyTuple_GET_ITEM(ids[own], j));
                if (!n_rare) continue;
                PyObject *rare = PyTuple_New(n_rare);
                if (!rare) goto fail;
                Py_ssize_t at = 0;
                for (Py_ssize_t j = 0; j < PyTuple_GET_SIZE(ids[own]); j++) {
                    PyObject *id = PyTuple_GET_ITEM(ids[own], j);
                    if (in_tuple(commons[own], id)) continue;
                    Py_INCREF(id);
                    PyTuple_SET_ITEM(rare, at++, id);
                }
                Py_ssize_t found = candidates(s, MODE_BOTH, rare, ids[other], Py_None, 0);
                Py_DECREF(rare);
                if (found < 0) goto fail;
                if (grow((void **)&extra, &cap_extra, n_extra + found, sizeof(int32_t), 0) < 0) goto fail;
                memcpy(extra + n_extra, s->cands, (size_t)found * sizeof(int32_t));
                n_extra += found;
            }
        }
    }
    if (!PyList_GET_SIZE(few) && !PyList_GET_SIZE(alone) && !PyList_GET_SIZE(led) && !PyList_GET_SIZE(pairs)
        && !n_extra) {
        Py_DECREF(few); Py_DECREF(alone); Py_DECREF(led); Py_DECREF(pairs);
        PyMem_Free(extra);
        Py_RETURN_NONE;
    }
    PyObject *extra_bytes = n_extra ? PyBytes_FromStringAndSize((const char *)extra, n_extra * (Py_ssize_t)sizeof(int32_t))
                                    : (Py_INCREF(Py_None), Py_None);
    PyMem_Free(extra);
    if (!extra_bytes) { extra = NULL; goto fail; }
    PyObject *first = PyList_AsTuple(few), *alone_t = PyList_GET_SIZE(alone) ? PyList_AsTuple(alone)
                                                                               : (Py_INCREF(Py_None), Py_None);
    Py_DECREF(few);
    Py_DECREF(alone);
    if (!first || !alone_t) { Py_XDECREF(first); Py_XDECREF(alone_t); Py_DECREF(extra_bytes); Py_DECREF(led);
                              Py_DECREF(pairs); return NULL; }
    return Py_BuildValue("(NNNNN)", first, alone_t, extra_bytes, led, pairs);
fail:
    Py_XDECREF(few);
    Py_XDECREF(alone);
    Py_XDECREF(led);
    Py_XDECREF(pairs);
    PyMem_Free(extra);
    return NULL;
}

/* ------------------------------------------------------------------ scoring */

/* reach: listed token -> the query positions reaching it with their similarities, in query
   order. positions[p] = (size, token ids, similarities, ...) of query word p (similar()). */
static int build_reach(Store *s, PyObject *positions, uint32_t *epoch_out) {
    if (s->reach_epoch >= UINT32_MAX - 1) {
        for (Py_ssize_t t = 0; t < s->n_tokens; t++) s->tokens[t].reach_mark = 0;
        s->reach_epoch = 1;
    }
    uint32_t epoch = ++s->reach_epoch;
    Py_ssize_t nq = PyTuple_GET_SIZE(positions), total = 0, nreached = 0;
    for (Py_ssize_t p = 0; p < nq; p++) {
        PyObject *item = PyTuple_GET_ITEM(positions, p);
        if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) < 3 || !PyTuple_Check(PyTuple_GET_ITEM(item, 1))
            || !PyTuple_Check(PyTuple_GET_ITEM(item, 2))
            || PyTuple_GET_SIZE(PyTuple_GET_ITEM(item, 1)) != PyTuple_GET_SIZE(PyTuple_GET_ITEM(item, 2))) {
            PyErr_SetString(PyExc_TypeError, "a query position: (size, token ids, similarities, ...)");
            return -1;
        }
        prefetch_tokens(s, PyTuple_GET_ITEM(item, 1), 0);
    }
    for (Py_ssize_t p = 0; p < nq; p++) {
        PyObject *tokens = PyTuple_GET_ITEM(PyTuple_GET_ITEM(positions, p), 1);
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
            int32_t k = token->reach_at + token->reach_cnt++;
            s->opt_sim[k] = sim;
            s->opt_pos[k] = (int32_t)p;
        }
    }
    *epoch_out = epoch;
    return 0;
}

static inline void prefetch_name_tokens(const Store *s, const Name *name) {
    const int32_t *ids = name_tokens(s, name);
    for (uint32_t i = 0; i < name->len && i < INLINE_TOKENS; i++) __builtin_prefetch(&s->tokens[ids[i]]);
}

/* An alignment option: query position i may explain listed word j at this similarity */
typedef struct { double sim, weight; int32_t i, j; } Option;

static int better_option(const Option *a, const Option *b) {
    /* scoring.py's order: sorted((sim, weight, -i, -j), reverse=True) */
    if (a->sim != b->sim) return a->sim > b->sim;
    if (a->weight != b->weight) return a->weight > b->weight;
    if (a->i != b->i) return a->i < b->i;
    return a->j < b->j;
}

typedef struct {
    double idf[MAX_QUERY];
    uint8_t flags[MAX_QUERY];
    Py_ssize_t n;
    int form, want_person, in_text;
} Query;

/* What score_name found, for an explanation (Store.explain) */
typedef struct {
    int32_t pair_i[MAX_QUERY], pair_j[MAX_QUERY];
    double pair_sim[MAX_QUERY];
    int n_pairs;
    double base;
    int middle_dropped, differing;  /* differing: 0 none, 1 common words only, 2 a distinctive word */
    int form_differs, kind_differs;
} Explained;

/* scoring.py's score_reading for one listed name; *partial: words were left over (listed ones
   left out, or reported ones added): the names are alike, not the same. ex: filled when given. */
static double score_name(Store *s, const Query *q, const Name *name, uint32_t reach_epoch, int *partial,
                         Explained *ex) {
    const Model *m = &s->m;
    const int32_t *ids = name_tokens(s, name);
    const Py_ssize_t len = name->len;
    const int person = (name->flags & PERSON) != 0;
    if (len > 0xFF) return 0.0;
    double lw[0x100];
    Option options[0x400];
    Py_ssize_t n_options = 0;
    for (Py_ssize_t j = 0; j < len; j++) {
        Token *token = &s->tokens[ids[j]];
        lw[j] = weigh(m, idf_of(s, token), token->flags & TOKEN_GENERIC, token->flags & TOKEN_PLACE, person);
        if (token->reach_mark != reach_epoch) continue;
        for (int32_t o = token->reach_at; o < token->reach_at + token->reach_cnt; o++) {
            if (n_options == (Py_ssize_t)(sizeof options / sizeof options[0])) break;
            Option opt = {s->opt_sim[o], lw[j], s->opt_pos[o], (int32_t)j};
            Py_ssize_t k = n_options++;  /* insertion: few options a name */
            while (k > 0 && better_option(&opt, &options[k - 1])) { options[k] = options[k - 1]; k--; }
            options[k] = opt;
        }
    }
    if (!n_options && !ex) return 0.0;
    uint8_t used_q[MAX_QUERY] = {0}, used_l[0x100] = {0};
    double found = 0.0, found_weight = 0.0;
    if (ex) ex->n_pairs = 0;
    for (Py_ssize_t k = 0; k < n_options; k++) {
        const Option *opt = &options[k];
        if (used_q[opt->i] || used_l[opt->j]) continue;
        used_q[opt->i] = used_l[opt->j] = 1;
        found += lw[opt->j] * opt->sim;
        found_weight += lw[opt->j];
        if (ex) {
            ex->pair_i[ex->n_pairs] = opt->i;
            ex->pair_j[ex->n_pairs] = opt->j;
            ex->pair_sim[ex->n_pairs++] = opt->sim;
        }
    }
    double left_out = 0.0, added = 0.0;
    int n_left_out = 0, n_added = 0, n_added_strong = 0, common = 1;
    for (Py_ssize_t j = 0; j < len; j++) {
        if (used_l[j]) continue;
        Token *token = &s->tokens[ids[j]];
        left_out += lw[j];
        n_left_out++;
        if (!(token->flags & (TOKEN_GENERIC | TOKEN_PLACE))) common = 0;
    }
    for (Py_ssize_t i = 0; i < q->n; i++) {
        if (used_q[i]) continue;
        n_added++;
        if (!(q->flags[i] & (QUERY_GENERIC | QUERY_PLACE))) common = 0;
        if (q->flags[i] & QUERY_WEAK) continue;
        n_added_strong++;
        added += weigh(m, q->idf[i], q->flags[i] & QUERY_GENERIC, q->flags[i] & QUERY_PLACE, person);
    }
    int middle_dropped = person && len >= 3 && n_left_out && !n_added_strong && used_l[0] && used_l[len - 1];
    double left_out_factor = middle_dropped ? m->left_out_middle_weight : m->left_out_weight;
    double whole = found_weight + left_out_factor * left_out + m->added_weight * added;
    double score = whole != 0.0 ? found / whole : 0.0;
    int differing = n_left_out && n_added ? (common ? 1 : 2) : 0;
    int form_differs = q->form && name->form && q->form != name->form;
    int kind_differs = q->want_person >= 0 && q->want_person != person;
    if (ex) {
        ex->base = score;
        ex->middle_dropped = middle_dropped;
        ex->differing = differing;
        ex->form_differs = form_differs;
        ex->kind_differs = kind_differs;
    }
    if (differing) score *= differing == 1 ? m->differing_weak_word : m->differing_word;
    if (form_differs) score *= m->form_differs;
    if (kind_differs) score *= m->kind_differs;
    if (q->in_text) score *= m->in_ad_text;
    *partial = n_left_out > 0 || n_added_strong > 0;
    return score;
}

static int parse_query(PyObject *positions, PyObject *idf_obj, const char *flags, Py_ssize_t n_flags, int form,
                       int want_person, int in_text, Query *q) {
    q->n = PyTuple_GET_SIZE(positions);
    q->form = form;
    q->want_person = want_person;
    q->in_text = in_text;
    if (q->n == 0 || q->n > MAX_QUERY || PyList_GET_SIZE(idf_obj) != q->n || n_flags != q->n) {
        PyErr_SetString(PyExc_ValueError, "1 to 64 query positions, with an idf and a flag byte each");
        return -1;
    }
    for (Py_ssize_t p = 0; p < q->n; p++) {
        q->idf[p] = PyFloat_AsDouble(PyList_GET_ITEM(idf_obj, p));
        if (q->idf[p] == -1.0 && PyErr_Occurred()) return -1;
        q->flags[p] = (uint8_t)flags[p];
    }
    return 0;
}

/* explain(slot, positions, query_idf, query_flags, form, want_person, in_text) -> (score, base,
   ((query position, listed position, similarity), ...) in the order aligned, middle_dropped,
   differing (0, 1 common words only, 2), form_differs, kind_differs): how match() scored that
   name, for the features a reviewer reads (engine.py) */
static PyObject *Store_explain(Store *s, PyObject *args) {
    long slot;
    int form, want_person, in_text;
    PyObject *positions, *idf_obj;
    const char *flags;
    Py_ssize_t n_flags;
    if (!PyArg_ParseTuple(args, "lO!O!y#iip", &slot, &PyTuple_Type, &positions, &PyList_Type, &idf_obj, &flags,
                          &n_flags, &form, &want_person, &in_text))
        return NULL;
    Query q;
    if (check_slot(s, slot) < 0 || parse_query(positions, idf_obj, flags, n_flags, form, want_person, in_text, &q) < 0)
        return NULL;
    uint32_t reach_epoch;
    if (build_reach(s, positions, &reach_epoch) < 0) return NULL;
    Explained ex;
    int partial;
    double score = score_name(s, &q, &s->names[slot], reach_epoch, &partial, &ex);
    PyObject *pairs = PyTuple_New(ex.n_pairs);
    if (!pairs) return NULL;
    for (int k = 0; k < ex.n_pairs; k++) {
        PyObject *pair = Py_BuildValue("(iid)", ex.pair_i[k], ex.pair_j[k], ex.pair_sim[k]);
        if (!pair) { Py_DECREF(pairs); return NULL; }
        PyTuple_SET_ITEM(pairs, k, pair);
    }
    return Py_BuildValue("(ddNOiOO)", score, ex.base, pairs, ex.middle_dropped ? Py_True : Py_False, ex.differing,
                         ex.form_differs ? Py_True : Py_False, ex.kind_differs ? Py_True : Py_False);
}

/* A name that passed, for settling (by owner, best first) */
typedef struct { double score; int32_t slot, owner; uint8_t partial, ambiguous; } Passed;

static int cmp_passed(const void *a, const void *b) {
    const Passed *x = a, *y = b;
    if (x->owner != y->owner) return x->owner < y->owner ? -1 : 1;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return (x->slot > y->slot) - (x->slot < y->slot);
}

static int cmp_passed_slot(const void *a, const void *b) {
    const Passed *x = a, *y = b;
    return (x->slot > y->slot) - (x->slot < y->slot);
}

/* match(mode, first, second, explicit, small_groups, positions, query_idf, query_flags, form,
 *       want_person, in_text, cutoff, margin, settle) -> [(slot, score, partial, ambiguous)]
 * for the candidates scoring at least cutoff, ascending by slot. query_flags: bytes, QUERY_WEAK |
 * QUERY_GENERIC | QUERY_PLACE a position; want_person: -1 either kind, else the kind the report
 * gives. margin >= 0: leave out the names a whole name (no word left over, so a score nothing
 * lowers later) beats by more than margin, as the engine's settling would. settle: this query
 * is the only reading of its report value, so settle here what engine.py's _settled would: each
 * owner's best name only, and ambiguous_part on the partial ones alike within margin of the best
 * partial one (then the cutoff again). */
static PyObject *Store_match(Store *s, PyObject *args) {
    int mode, form, want_person, in_text, settle;
    PyObject *first, *second, *explicit_slots, *positions, *idf_obj;
    const char *flags;
    Py_ssize_t small_groups, n_flags;
    double cutoff, margin;
    if (!PyArg_ParseTuple(args, "iOOOnO!O!y#iipddp", &mode, &first, &second, &explicit_slots, &small_groups,
                          &PyTuple_Type, &positions, &PyList_Type, &idf_obj, &flags, &n_flags, &form,
                          &want_person, &in_text, &cutoff, &margin, &settle))
        return NULL;
    Query q;
    if (parse_query(positions, idf_obj, flags, n_flags, form, want_person, in_text, &q) < 0) return NULL;
    Py_ssize_t n = candidates(s, mode, first, second, explicit_slots, small_groups);
    if (n < 0) return NULL;
    uint32_t reach_epoch;
    if (build_reach(s, positions, &reach_epoch) < 0) return NULL;
    /* At a million names the records and tokens are far beyond the caches and each candidate
       would wait on a miss for its record, then one per token: ask for the record of the
       candidate AHEAD places on, and for the tokens of the one half as far, whose record has
       arrived by then. */
    Passed *passed = PyMem_Malloc((size_t)(n ? n : 1) * sizeof(Passed));
    if (!passed) return PyErr_NoMemory();
    Py_ssize_t kept = 0;
    double best_whole = -1.0;
    for (Py_ssize_t c = 0; c < n && c < SCORE_AHEAD; c++) __builtin_prefetch(&s->names[s->cands[c]]);
    for (Py_ssize_t c = 0; c < n; c++) {
        if (c + SCORE_AHEAD < n) __builtin_prefetch(&s->names[s->cands[c + SCORE_AHEAD]]);
        if (c + SCORE_AHEAD / 2 < n) prefetch_name_tokens(s, &s->names[s->cands[c + SCORE_AHEAD / 2]]);
        int partial = 0;
        int32_t slot = s->cands[c];
        double score = score_name(s, &q, &s->names[slot], reach_epoch, &partial, NULL);
        if (score < cutoff) continue;
        if (!partial && score > best_whole) best_whole = score;
        passed[kept++] = (Passed){score, slot, s->owners[slot], (uint8_t)partial, 0};
    }
    Py_ssize_t out_n = 0;
    for (Py_ssize_t c = 0; c < kept; c++)  /* margin: what a whole name beats by more goes */
        if (!(margin >= 0 && best_whole > passed[c].score + margin)) passed[out_n++] = passed[c];
    if (settle && out_n > 1) {
        qsort(passed, (size_t)out_n, sizeof(Passed), cmp_passed);
        Py_ssize_t owners = 0;
        for (Py_ssize_t c = 0; c < out_n; c++)  /* each owner's best name */
            if (!owners || passed[c].owner != passed[owners - 1].owner) passed[owners++] = passed[c];
        out_n = owners;
        double best_partial = -1.0;
        Py_ssize_t alike = 0;
        for (Py_ssize_t c = 0; c < out_n; c++)
            if (passed[c].partial && passed[c].score > best_partial) best_partial = passed[c].score;
        for (Py_ssize_t c = 0; c < out_n; c++)
            alike += passed[c].partial && passed[c].score >= best_partial - margin;
        if (alike > 1) {
            Py_ssize_t still = 0;
            for (Py_ssize_t c = 0; c < out_n; c++) {
                if (passed[c].partial && passed[c].score >= best_partial - margin) {
                    passed[c].score *= s->m.ambiguous_part;
                    passed[c].ambiguous = 1;
                    if (passed[c].score < cutoff) continue;
                }
                passed[still++] = passed[c];
            }
            out_n = still;
        }
        qsort(passed, (size_t)out_n, sizeof(Passed), cmp_passed_slot);
    }
    PyObject *out = PyList_New(0);
    for (Py_ssize_t c = 0; out && c < out_n; c++) {
        PyObject *item = Py_BuildValue("(idOO)", passed[c].slot, passed[c].score, passed[c].partial ? Py_True : Py_False,
                                       passed[c].ambiguous ? Py_True : Py_False);
        if (!item || PyList_Append(out, item) < 0) Py_CLEAR(out);
        Py_XDECREF(item);
    }
    PyMem_Free(passed);
    return out;
}

static PyObject *Store_get_live(Store *s, void *closure) { return PyLong_FromSsize_t(s->live); }

static PyObject *Store_nbytes(Store *s, PyObject *unused) {
    size_t bytes = (size_t)s->cap_slots * sizeof(Name) + (size_t)s->pool_cap * 4 + (size_t)s->cap_tokens * sizeof(Token)
                   + (size_t)s->cap_spellings * sizeof(Spelling) + (size_t)s->text_cap + (size_t)s->nb_cap * 12;
    for (Py_ssize_t t = 0; t < s->n_tokens; t++) bytes += (size_t)s->tokens[t].cap * 4;
    return PyLong_FromSize_t(bytes);
}

static PyMethodDef Store_methods[] = {
    {"add_token", (PyCFunction)Store_add_token, METH_VARARGS, "add_token(generic, place) -> token id"},
    {"add_spelling", (PyCFunction)Store_add_spelling, METH_VARARGS,
     "add_spelling(token id, text) -> spelling id: into the typo neighbourhoods"},
    {"forget_spelling", (PyCFunction)Store_forget_spelling, METH_O, "forget_spelling(spelling id)"},
    {"reserve", (PyCFunction)Store_reserve, METH_O, "reserve(spellings): room for that many more"},
    {"similar", (PyCFunction)Store_similar, METH_VARARGS,
     "similar(key, surface, exact id or -1, common df) -> (size, token ids, similarities, most, common ids)"},
    {"add_name", (PyCFunction)Store_add_name, METH_VARARGS, "add_name(token ids, person, form id, owner) -> slot"},
    {"remove_name", (PyCFunction)Store_remove_name, METH_O, "remove_name(slot)"},
    {"df", (PyCFunction)Store_df, METH_O, "df(token id) -> how many names hold it"},
    {"idf", (PyCFunction)Store_idf, METH_O, "idf(token id) -> its rarity among the listed names"},
    {"candidates", (PyCFunction)Store_candidates, METH_VARARGS,
     "candidates(mode, first, second, explicit, small_groups) -> slots, ascending"},
    {"candidate_bytes", (PyCFunction)Store_candidate_bytes, METH_VARARGS,
     "candidate_bytes(mode, first, second, explicit, small_groups) -> the candidates as int32 bytes"},
    {"union", (PyCFunction)Store_union, METH_O, "union(token ids) -> sorted slots of their names, as int32 bytes"},
    {"size", (PyCFunction)Store_size, METH_O, "size(token ids) -> how many names their posting lists hold"},
    {"exact", (PyCFunction)Store_exact, METH_O, "exact(distinct token ids) -> slots of names made of exactly them"},
    {"led_by", (PyCFunction)Store_led_by, METH_VARARGS,
     "led_by(token id, max ratio) -> ((ratios, slots) of firms, of persons): names by their other words' weight"},
    {"match", (PyCFunction)Store_match, METH_VARARGS,
     "match(mode, first, second, explicit, small_groups, positions, query_idf, query_flags, form, "
     "want_person, in_text, cutoff, margin, settle) -> [(slot, score, partial, ambiguous)]"},
    {"block", (PyCFunction)Store_block, METH_VARARGS,
     "block(groups, query_idf, query_flags, cutoff, common df, few names) -> None or (first, alone, extra, led, pairs)"},
    {"explain", (PyCFunction)Store_explain, METH_VARARGS,
     "explain(slot, positions, query_idf, query_flags, form, want_person, in_text) -> how match() scored it"},
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
    .tp_doc = "The watchlist's names as token ids, their posting lists and typo neighbourhoods, and the name score.",
    .tp_methods = Store_methods,
    .tp_getset = Store_getset,
    .tp_init = (initproc)Store_init,
    .tp_new = PyType_GenericNew,
};

static struct PyModuleDef kernel_module = {
    PyModuleDef_HEAD_INIT, "_kernel", "Screening kernel: compact posting lists, neighbourhoods and the name score.",
    -1, NULL,
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
    PyModule_AddIntConstant(m, "QUERY_WEAK", QUERY_WEAK);
    PyModule_AddIntConstant(m, "QUERY_GENERIC", QUERY_GENERIC);
    PyModule_AddIntConstant(m, "QUERY_PLACE", QUERY_PLACE);
    return m;
}
