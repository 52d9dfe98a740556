/*
 * Two looks at a whole text, each one pass over its characters, for checks that every message
 * goes through before any matching.
 *
 * `contains_any(text, needles)` is `any(n in text for n in needles)`: does any text write an
 * "@" out (" at ", " собака ", "艾特", ...)? Python's `in`, once per string, read a MiB of
 * Russian prose eleven times over, about a sixth of the engine's time on it. Here each
 * character is looked up in a bitmap of the needles' first characters, then of their first
 * two, and only where one starts is the rest compared. `substrings(needles)` builds those
 * tables once, for needles looked for in many short texts.
 *
 * `has_run(text, characters, length)`: whether `length` characters in a row are all among
 * the (ASCII) `characters`, as a base64 blob's are and prose's never.
 *
 * dlp_addon/substrings.py answers the same in Python where this was not built, and
 * tests/unit/test_substrings.py holds the two to the same answers.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define MAX_NEEDLES 128
#define BMP 0x10000

typedef struct {
    PyObject *tuple; /* the needles, kept alive for `data` */
    int has_empty;   /* "" is in every text */
    Py_ssize_t count;
    Py_UCS4 first[MAX_NEEDLES], second[MAX_NEEDLES];
    Py_ssize_t size[MAX_NEEDLES];
    int kind[MAX_NEEDLES];
    const void *data[MAX_NEEDLES];
    uint8_t singles[BMP / 8];  /* needles of one character in the BMP: finding it is enough */
    uint8_t starts[BMP / 8];   /* first characters of the needles in the BMP, one bit each */
    uint8_t pairs[BMP / 8];    /* their first two, hashed: spaces start most needles and text */
    uint8_t short_pairs[BMP / 8]; /* the first two of needles of two characters, hashed */
    uint8_t next_pairs[BMP / 8];  /* the second and third of longer ones, hashed: in Arabic prose
                                   * nearly every word opens as " ا" does " ات " */
    Py_UCS4 far[MAX_NEEDLES];  /* first characters above the BMP */
    Py_ssize_t far_count;
    unsigned char openings[4]; /* the needles' first characters a one-byte text can hold, if four or fewer */
    int opening_count;         /* -1: more than four */
} Needles;

static inline unsigned pair_hash(Py_UCS4 a, Py_UCS4 b) {
    return (unsigned)((a * 0x9E3779B1u) ^ b) & (BMP - 1);
}

static inline int bit(const uint8_t *bits, unsigned i) {
    return (bits[i >> 3] >> (i & 7)) & 1;
}

static inline int may_start(const Needles *set, Py_UCS4 c) {
    if (c < BMP)
        return bit(set->starts, c);
    for (Py_ssize_t j = 0; j < set->far_count; j++)
        if (set->far[j] == c)
            return 1;
    return 0;
}

/* Whether a needle starts at `position` of the text; `from` characters of it already match
 * (1: its first, 2: its first two, and it has two or more). */
static int starts_here(int kind, const void *data, Py_ssize_t length, Py_ssize_t position, const Needles *set,
                       Py_ssize_t from) {
    Py_UCS4 c = PyUnicode_READ(kind, data, position);
    Py_UCS4 next = position + 1 < length ? PyUnicode_READ(kind, data, position + 1) : 0;
    for (Py_ssize_t j = 0; j < set->count; j++) {
        Py_ssize_t size = set->size[j];
        if (set->first[j] != c || size > length - position || (from == 2 && (size < 2 || set->second[j] != next)))
            continue;
        Py_ssize_t k = from;
        while (k < size && PyUnicode_READ(kind, data, position + k) == PyUnicode_READ(set->kind[j], set->data[j], k))
            k++;
        if (k == size)
            return 1;
    }
    return 0;
}

#define SCAN(TYPE)                                                                            \
    do {                                                                                      \
        const TYPE *chars = (const TYPE *)data;                                               \
        for (Py_ssize_t i = 0; i < length; i++) {                                             \
            Py_UCS4 c = chars[i];                                                             \
            if (!may_start(set, c))                                                           \
                continue;                                                                     \
            if (c >= BMP) {                                                                   \
                if (starts_here(kind, data, length, i, set, 1))                               \
                    return 1;                                                                 \
                continue;                                                                     \
            }                                                                                 \
            if (bit(set->singles, c))                                                         \
                return 1;                                                                     \
            if (i + 1 >= length)                                                              \
                continue;                                                                     \
            unsigned h = pair_hash(c, chars[i + 1]);                                          \
            if (!bit(set->pairs, h))                                                          \
                continue;                                                                     \
            if (!bit(set->short_pairs, h) &&                                                  \
                !(i + 2 < length && bit(set->next_pairs, pair_hash(chars[i + 1], chars[i + 2])))) \
                continue;                                                                     \
            if (starts_here(kind, data, length, i, set, 2))                                   \
                return 1;                                                                     \
        }                                                                                     \
    } while (0)

/* Where a text is in the Basic Multilingual Plane (one- and two-byte text), sixteen
 * characters at a time first: a bit for each that is a one-character needle or opens a pair
 * that starts one, worked out without branches, then a look at each set bit as SCAN makes
 * it. In prose a space, the first character of most needles, is every few characters at no
 * pattern the processor can predict; a space followed by the needles' second character is
 * rare. Returns 1 on a find, else the position SCAN goes on from. */
#define BLOCKS(TYPE)                                                                          \
    do {                                                                                      \
        const TYPE *chars = (const TYPE *)data;                                               \
        for (; done + 17 <= length; done += 16) {                                             \
            uint32_t hits = 0;                                                                \
            for (int k = 0; k < 16; k++) {                                                    \
                Py_UCS4 c = chars[done + k];                                                  \
                hits |= (uint32_t)(bit(set->singles, c) | bit(set->pairs, pair_hash(c, chars[done + k + 1]))) << k; \
            }                                                                                 \
            while (hits) {                                                                    \
                Py_ssize_t i = done + __builtin_ctz(hits);                                    \
                hits &= hits - 1;                                                             \
                Py_UCS4 c = chars[i];                                                         \
                if (bit(set->singles, c))                                                     \
                    return 1;                                                                 \
                if (!bit(set->starts, c))                                                     \
                    continue;                                                                 \
                unsigned h = pair_hash(c, chars[i + 1]);                                      \
                if (!bit(set->short_pairs, h) && !(i + 2 < length && bit(set->next_pairs, pair_hash(chars[i + 1], chars[i + 2])))) \
                    continue;                                                                 \
                if (starts_here(kind, data, length, i, set, 2))                               \
                    return 1;                                                                 \
            }                                                                                 \
        }                                                                                     \
    } while (0)

/* In a one-byte text, needles that open with four characters or fewer are looked for from
 * each of those (memchr: a JSON document's values joined hold a space or a bracket every
 * fifty characters, not every five as prose does). 1: found, 0: not there, -1: the openings
 * are too many to be worth it, and the caller reads the text its own way. */
static int scan_openings(const Py_UCS1 *chars, Py_ssize_t length, const Needles *set) {
    Py_ssize_t budget = length / 32 + 16, looked = 0;
    for (int f = 0; f < set->opening_count; f++) {
        const Py_UCS1 *at = chars;
        while ((at = memchr(at, set->openings[f], (size_t)(length - (at - chars)))) != NULL) {
            Py_ssize_t i = at - chars;
            at++;
            if (++looked > budget)
                return -1;
            Py_UCS4 c = chars[i];
            if (bit(set->singles, c))
                return 1;
            if (i + 1 >= length)
                continue;
            unsigned h = pair_hash(c, chars[i + 1]);
            if (!bit(set->pairs, h))
                continue;
            if (!bit(set->short_pairs, h) && !(i + 2 < length && bit(set->next_pairs, pair_hash(chars[i + 1], chars[i + 2]))))
                continue;
            if (starts_here(PyUnicode_1BYTE_KIND, chars, length, i, set, 2))
                return 1;
        }
    }
    return 0;
}

static int scan(PyObject *text, const Needles *set) {
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t length = PyUnicode_GET_LENGTH(text), done = 0;
    if (kind == PyUnicode_1BYTE_KIND && set->opening_count >= 0) {
        int found = scan_openings(data, length, set);
        if (found >= 0)
            return found;
    }
    if (kind == PyUnicode_1BYTE_KIND)
        BLOCKS(Py_UCS1);
    else if (kind == PyUnicode_2BYTE_KIND)
        BLOCKS(Py_UCS2);
    /* The rest (all of a four-byte text) a character at a time. */
    data = (const char *)data + done * kind;
    length -= done;
    if (kind == PyUnicode_1BYTE_KIND)
        SCAN(Py_UCS1);
    else if (kind == PyUnicode_2BYTE_KIND)
        SCAN(Py_UCS2);
    else
        SCAN(Py_UCS4);
    return 0;
}

static void free_needles(Needles *set) {
    Py_XDECREF(set->tuple);
    PyMem_Free(set);
}

/* The needles of a tuple of str ready to be looked for; NULL with an exception set. */
static Needles *build(PyObject *needles) {
    if (!PyTuple_Check(needles)) {
        PyErr_SetString(PyExc_TypeError, "needles must be a tuple of str");
        return NULL;
    }
    Py_ssize_t count = PyTuple_GET_SIZE(needles);
    if (count > MAX_NEEDLES) {
        PyErr_Format(PyExc_ValueError, "at most %d needles", MAX_NEEDLES);
        return NULL;
    }
    for (Py_ssize_t j = 0; j < count; j++) {
        if (!PyUnicode_Check(PyTuple_GET_ITEM(needles, j))) {
            PyErr_SetString(PyExc_TypeError, "needles must be str");
            return NULL;
        }
    }
    Needles *set = PyMem_Calloc(1, sizeof(Needles));
    if (set == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    Py_INCREF(needles);
    set->tuple = needles;
    for (Py_ssize_t j = 0; j < count; j++) {
        PyObject *needle = PyTuple_GET_ITEM(needles, j);
        Py_ssize_t size = PyUnicode_GET_LENGTH(needle);
        if (size == 0) {
            set->has_empty = 1;
            continue;
        }
        Py_ssize_t k = set->count++;
        Py_UCS4 c = PyUnicode_READ_CHAR(needle, 0);
        set->first[k] = c;
        set->second[k] = size > 1 ? PyUnicode_READ_CHAR(needle, 1) : 0;
        set->size[k] = size;
        set->kind[k] = PyUnicode_KIND(needle);
        set->data[k] = PyUnicode_DATA(needle);
        if (c >= BMP) {
            set->far[set->far_count++] = c;
            continue;
        }
        if (c < 256 && set->opening_count >= 0 && !memchr(set->openings, (int)c, (size_t)set->opening_count)) {
            if (set->opening_count < 4)
                set->openings[set->opening_count++] = (unsigned char)c;
            else
                set->opening_count = -1;
        }
        set->starts[c >> 3] |= (uint8_t)(1u << (c & 7));
        if (size == 1) {
            set->singles[c >> 3] |= (uint8_t)(1u << (c & 7));
        } else {
            unsigned h = pair_hash(c, set->second[k]);
            set->pairs[h >> 3] |= (uint8_t)(1u << (h & 7));
            if (size == 2) {
                set->short_pairs[h >> 3] |= (uint8_t)(1u << (h & 7));
            } else {
                unsigned next = pair_hash(set->second[k], PyUnicode_READ_CHAR(needle, 2));
                set->next_pairs[next >> 3] |= (uint8_t)(1u << (next & 7));
            }
        }
    }
    return set;
}

#define CAPSULE "dlp_addon._substrings.needles"

static void capsule_freed(PyObject *capsule) {
    free_needles(PyCapsule_GetPointer(capsule, CAPSULE));
}

/* substrings(needles): the needles built once, for a text looked at many times (a phone
 * word near each of thousands of numbers): building costs more than reading 60 characters. */
static PyObject *substrings(PyObject *module, PyObject *needles) {
    (void)module;
    Needles *set = build(needles);
    if (set == NULL)
        return NULL;
    PyObject *capsule = PyCapsule_New(set, CAPSULE, capsule_freed);
    if (capsule == NULL)
        free_needles(set);
    return capsule;
}

static PyObject *contains_any(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (nargs != 2 || !PyUnicode_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "contains_any(text: str, needles: tuple[str, ...] or substrings(...))");
        return NULL;
    }
    PyObject *text = args[0], *needles = args[1];
    if (PyCapsule_CheckExact(needles)) {
        Needles *built = PyCapsule_GetPointer(needles, CAPSULE);
        if (built == NULL)
            return NULL;
        return PyBool_FromLong(built->has_empty || scan(text, built));
    }
    Needles *set = build(needles);
    if (set == NULL)
        return NULL;
    int found = set->has_empty || scan(text, set);
    free_needles(set);
    return PyBool_FromLong(found);
}

/* Whether the text holds `length` characters in a row that are all among `characters`
 * (ASCII ones): a base64 blob in a value, which prose lacks. Python's way to know without a
 * pattern (a copy to UTF-8 and another through a table) cost Russian prose 2.7 ms per MiB. */
/* Whether `length` characters in a row of c[0:size] are in `in_set`. Every such run holds one
 * of every `length`-th position, so only those are looked at first (prose, in any script, has
 * none of them in the set, or a word's worth around them): from one in the set, how far the
 * run around it reaches; past the break that ends it, the next look is `length` on. */
#define RUN_AMONG(TYPE) run_among_##TYPE((const TYPE *)data, size, in_set, length)
#define DEFINE_RUN_AMONG(TYPE)                                                                    \
    static int run_among_##TYPE(const TYPE *c, Py_ssize_t size, const uint8_t *in_set, Py_ssize_t length) { \
        Py_ssize_t i = length - 1;                                                                \
        while (i < size) {                                                                        \
            if (!(c[i] < 128 && in_set[c[i]])) {                                                  \
                i += length;                                                                      \
                continue;                                                                         \
            }                                                                                     \
            Py_ssize_t run = 1;                                                                   \
            while (run < length && i - run >= 0 && c[i - run] < 128 && in_set[c[i - run]])        \
                run++;                                                                            \
            Py_ssize_t j = i + 1;                                                                 \
            while (run < length && j < size && c[j] < 128 && in_set[c[j]]) {                      \
                run++;                                                                            \
                j++;                                                                              \
            }                                                                                     \
            if (run >= length)                                                                    \
                return 1;                                                                         \
            i = j + length; /* c[j] ends the run (or the text does) */                            \
        }                                                                                         \
        return 0;                                                                                 \
    }
DEFINE_RUN_AMONG(Py_UCS1)
DEFINE_RUN_AMONG(Py_UCS2)
DEFINE_RUN_AMONG(Py_UCS4)

static PyObject *has_run(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    Py_ssize_t length;
    if (nargs != 3 || !PyUnicode_Check(args[0]) || !PyUnicode_Check(args[1]) || !PyLong_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "has_run(text: str, characters: str, length: int)");
        return NULL;
    }
    length = PyLong_AsSsize_t(args[2]);
    if (length == -1 && PyErr_Occurred())
        return NULL;
    PyObject *text = args[0], *characters = args[1];
    uint8_t in_set[128] = {0};
    for (Py_ssize_t j = 0; j < PyUnicode_GET_LENGTH(characters); j++) {
        Py_UCS4 c = PyUnicode_READ_CHAR(characters, j);
        if (c >= 128) {
            PyErr_SetString(PyExc_ValueError, "the characters of a run must be ASCII");
            return NULL;
        }
        in_set[c] = 1;
    }
    if (length <= 0)
        Py_RETURN_TRUE;
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t size = PyUnicode_GET_LENGTH(text);
    int found;
    if (kind == PyUnicode_1BYTE_KIND)
        found = RUN_AMONG(Py_UCS1);
    else if (kind == PyUnicode_2BYTE_KIND)
        found = RUN_AMONG(Py_UCS2);
    else
        found = RUN_AMONG(Py_UCS4);
    return PyBool_FromLong(found);
}

static PyMethodDef methods[] = {
    {"contains_any", (PyCFunction)(void (*)(void))contains_any, METH_FASTCALL,
     "contains_any(text, needles) -> bool: any(needle in text for needle in needles), in one pass."},
    {"substrings", substrings, METH_O,
     "substrings(needles) -> the needles (a tuple of str) built once for contains_any."},
    {"has_run", (PyCFunction)(void (*)(void))has_run, METH_FASTCALL,
     "has_run(text, characters, length) -> bool: whether `length` characters in a row are all in `characters`."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_substrings", NULL, -1, methods};

PyMODINIT_FUNC PyInit__substrings(void) {
    return PyModule_Create(&module);
}
