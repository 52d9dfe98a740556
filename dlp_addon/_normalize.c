/*
 * normalize.normalize's character mapping in C, for text that is not pure ASCII.
 *
 * In Russian, Chinese, Arabic or Persian prose the regex that finds the runs to map (native
 * digits, fullwidth forms, Unicode spaces and dashes) and the deletion of invisible format
 * characters cost 20-40 ms per MiB, more than the detectors spent on such text. Here both
 * are one pass over the characters with a table lookup each. The table is built in
 * normalize.py from the same patterns the Python path uses, so the two map exactly the same
 * characters; tests/unit/test_normalize.py holds them to the same text and offsets over every
 * code point.
 *
 * The table: `index`, one uint16 per block of 256 code points (0x1100 of them), naming the
 * block's page in `pages` (page 0: nothing in the block changes), and `pages`, 256 uint32 per
 * page: 0 for a character left as it is, DELETE for one taken out, else its replacement.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define BLOCKS 0x1100
#define DELETE 0xFFFFFFFFu

typedef struct {
    const uint16_t *index;
    const uint32_t *pages;
    Py_ssize_t page_count;
} Table;

/* A page the index names but `pages` does not hold counts as no change: checked here, at the
 * lookup, rather than over the whole index on every call (4,352 entries, more than most
 * values' characters). normalize.py builds both from one table, so it does not happen. */
static inline uint32_t lookup(const Table *table, Py_UCS4 c) {
    if (c < 0x80)
        return 0;
    uint16_t page = table->index[c >> 8];
    return page && page < table->page_count ? table->pages[(Py_ssize_t)page * 256 + (c & 0xFF)] : 0;
}

/* map_text(text, index, pages) -> (mapped, offsets): `offsets` the uint32 index in `text` of
 * each character of `mapped` as bytes, or None when nothing was deleted. */
static PyObject *map_text(PyObject *module, PyObject *args) {
    PyObject *text;
    Py_buffer index, pages;
    if (!PyArg_ParseTuple(args, "Uy*y*:map_text", &text, &index, &pages))
        return NULL;
    PyObject *result = NULL, *mapped = NULL, *offsets = NULL;
    uint32_t *where = NULL; /* made at the first deletion: the index in `text` of each kept character */
    if (index.len != BLOCKS * (Py_ssize_t)sizeof(uint16_t) || pages.len % (256 * sizeof(uint32_t)) != 0) {
        PyErr_SetString(PyExc_ValueError, "map_text() needs an index of 0x1100 uint16 and pages of 256 uint32");
        goto done;
    }
    Table table = {index.buf, pages.buf, pages.len / (Py_ssize_t)(256 * sizeof(uint32_t))};
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t length = PyUnicode_GET_LENGTH(text);
    /* Most values and much prose hold nothing to map (a name in Cyrillic, a line of Arabic
     * without native digits): the first character that changes is looked for at the speed of
     * the text's own kind, and a text with none is its own normal form, not copied. */
    Py_ssize_t first = 0;
    switch (kind) {
    case PyUnicode_1BYTE_KIND: {
        const Py_UCS1 *c = data;
        while (first < length && lookup(&table, c[first]) == 0)
            first++;
        break;
    }
    case PyUnicode_2BYTE_KIND: {
        const Py_UCS2 *c = data;
        while (first < length && lookup(&table, c[first]) == 0)
            first++;
        break;
    }
    default: {
        const Py_UCS4 *c = data;
        while (first < length && lookup(&table, c[first]) == 0)
            first++;
    }
    }
    if (first == length) {
        result = PyTuple_Pack(2, text, Py_None);
        goto done;
    }
    /* One pass that writes at the text's own width (what a character becomes is ASCII, so
     * never wider). The result is copied once more only where it came out shorter (invisible
     * characters taken out) or narrower than that width (a str is always made in the
     * narrowest width its characters need). */
    Py_UCS4 limit = kind == PyUnicode_1BYTE_KIND ? 0xFF : kind == PyUnicode_2BYTE_KIND ? 0xFFFF : 0x10FFFF;
    Py_UCS4 narrower = kind == PyUnicode_1BYTE_KIND ? 0x80 : kind == PyUnicode_2BYTE_KIND ? 0x100 : 0x10000;
    mapped = PyUnicode_New(length, limit);
    if (mapped == NULL)
        goto done;
    void *out_data = PyUnicode_DATA(mapped);
    Py_ssize_t kept = 0;
    Py_UCS4 widest = 0;
#define WRITE(TYPE)                                                                           \
    {                                                                                         \
        const TYPE *c = data;                                                                 \
        TYPE *o = out_data;                                                                   \
        for (Py_ssize_t i = 0; i < first; i++) {                                              \
            o[i] = c[i];                                                                      \
            if (c[i] > widest)                                                                \
                widest = c[i];                                                                \
        }                                                                                     \
        kept = first;                                                                         \
        for (Py_ssize_t i = first; i < length; i++) {                                         \
            uint32_t to = lookup(&table, c[i]);                                               \
            if (to == DELETE) {                                                               \
                if (where == NULL) {                                                          \
                    where = PyMem_Malloc((size_t)length * sizeof(uint32_t));                  \
                    if (where == NULL) {                                                      \
                        PyErr_NoMemory();                                                     \
                        goto done;                                                            \
                    }                                                                         \
                    for (Py_ssize_t k = 0; k < kept; k++)                                     \
                        where[k] = (uint32_t)k;                                               \
                }                                                                             \
                continue;                                                                     \
            }                                                                                 \
            Py_UCS4 out = to ? (Py_UCS4)to : c[i];                                            \
            if (out > widest)                                                                 \
                widest = out;                                                                 \
            o[kept] = (TYPE)out;                                                              \
            if (where != NULL)                                                                \
                where[kept] = (uint32_t)i;                                                    \
            kept++;                                                                           \
        }                                                                                     \
    }
    switch (kind) {
    case PyUnicode_1BYTE_KIND: WRITE(Py_UCS1) break;
    case PyUnicode_2BYTE_KIND: WRITE(Py_UCS2) break;
    default: WRITE(Py_UCS4)
    }
#undef WRITE
    if (kept < length || widest < narrower) {
        PyObject *exact = PyUnicode_FromKindAndData(kind, out_data, kept);
        Py_SETREF(mapped, exact);
        if (mapped == NULL)
            goto done;
    }
    if (where != NULL) {
        offsets = PyBytes_FromStringAndSize((const char *)where, kept * (Py_ssize_t)sizeof(uint32_t));
        if (offsets == NULL)
            goto done;
    } else {
        offsets = Py_NewRef(Py_None);
    }
    result = PyTuple_Pack(2, mapped, offsets);
done:
    PyMem_Free(where);
    Py_XDECREF(mapped);
    Py_XDECREF(offsets);
    PyBuffer_Release(&index);
    PyBuffer_Release(&pages);
    return result;
}

static PyMethodDef methods[] = {
    {"map_text", map_text, METH_VARARGS,
     "map_text(text, index, pages) -> (mapped, offsets or None): normalize's mapping and deletions."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_normalize", NULL, -1, methods};

PyMODINIT_FUNC PyInit__normalize(void) {
    return PyModule_Create(&module);
}
