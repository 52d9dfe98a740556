/*
 * Three of embedded.py's looks at a text for what is encoded in it, in C.
 *
 * A beacon log is a query string per line: an "=" every few characters, and a percent
 * escape in every URL it carries. `quoted_printable_hint(text)` is embedded._has_quoted_printable:
 * the stdlib engine tried its pattern at every "=" (a sixth of the engine's time on beacons),
 * here each "=" costs a look at the next few characters. `percent_decoded(data)` is
 * urllib.parse.unquote_to_bytes on bytes, which splits at every "%" and joins the pieces in
 * Python. `base64_runs(text)` is the spans embedded._RUN finds, which the stdlib engine read
 * at a few hundred MB/s (a beacon's ids and tokens are runs too, and a blob is one long one).
 * embedded.py keeps all three in Python too, for where this was not built, and
 * tests/unit/test_escapes.py holds the two to the same answers.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

static inline Py_UCS4 char_at(int kind, const void *data, Py_ssize_t n, Py_ssize_t i) {
    return i >= 0 && i < n ? PyUnicode_READ(kind, data, i) : 0;
}

static inline int is_hex(Py_UCS4 c) {
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f');
}

/* `\w` of the stdlib engine on str patterns. */
static inline int is_word(Py_UCS4 c) {
    return c == '_' || Py_UNICODE_ISALNUM(c);
}

static inline int is_base64(Py_UCS4 c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/' ||
           c == '_' || c == '-';
}

/* Whether the "=" at i opens quoted-printable (embedded._QP_HINT, and for a soft line break
 * a line before it that is not all base64 characters). */
static int opens_quoted_printable(int kind, const void *data, Py_ssize_t n, Py_ssize_t i) {
    Py_UCS4 a = char_at(kind, data, n, i + 1), b = char_at(kind, data, n, i + 2);
    if (a == '4' && b == '0') {
        /* =40(?=[\w-]+\.[^\W\d_]): the run of word characters and "-" holds no ".", so the
         * one after it is the only "." the look-ahead can find. */
        Py_ssize_t j = i + 3;
        while (j < n && (is_word(PyUnicode_READ(kind, data, j)) || PyUnicode_READ(kind, data, j) == '-'))
            j++;
        Py_UCS4 after = char_at(kind, data, n, j + 1);
        if (j > i + 3 && char_at(kind, data, n, j) == '.' && j + 1 < n && Py_UNICODE_ISALNUM(after) &&
            !Py_UNICODE_ISDECIMAL(after))
            return 1;
        return 0;
    }
    if (((a >= 'C' && a <= 'F') || (a >= 'c' && a <= 'f')) && is_hex(b) && char_at(kind, data, n, i + 3) == '=') {
        Py_UCS4 c = char_at(kind, data, n, i + 4);
        if ((c == '8' || c == '9' || c == 'A' || c == 'B' || c == 'a' || c == 'b') && is_hex(char_at(kind, data, n, i + 5)))
            return 1;
        return 0;
    }
    if (a == '\n' || (a == '\r' && b == '\n')) {
        for (Py_ssize_t j = i - 1; j >= 0; j--) {
            Py_UCS4 c = PyUnicode_READ(kind, data, j);
            if (c == '\n')
                break;
            if (!is_base64(c))
                return 1;
        }
    }
    return 0;
}

static PyObject *quoted_printable_hint(PyObject *module, PyObject *text) {
    if (!PyUnicode_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "quoted_printable_hint() takes a str");
        return NULL;
    }
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (kind == PyUnicode_1BYTE_KIND) {
            const Py_UCS1 *at = memchr((const Py_UCS1 *)data + i, '=', (size_t)(n - i));
            if (at == NULL)
                break;
            i = at - (const Py_UCS1 *)data;
        } else if (PyUnicode_READ(kind, data, i) != '=') {
            continue;
        }
        if (opens_quoted_printable(kind, data, n, i))
            Py_RETURN_TRUE;
    }
    Py_RETURN_FALSE;
}

static inline int hex_value(unsigned char c) {
    return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

static PyObject *percent_decoded(PyObject *module, PyObject *arg) {
    if (!PyBytes_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "percent_decoded() takes bytes");
        return NULL;
    }
    const unsigned char *in = (const unsigned char *)PyBytes_AS_STRING(arg);
    Py_ssize_t n = PyBytes_GET_SIZE(arg);
    const unsigned char *first = memchr(in, '%', (size_t)n);
    if (first == NULL)
        return Py_NewRef(arg);
    PyObject *out = PyBytes_FromStringAndSize(NULL, n); /* decoding only shortens */
    if (out == NULL)
        return NULL;
    unsigned char *o = (unsigned char *)PyBytes_AS_STRING(out);
    Py_ssize_t written = first - in;
    memcpy(o, in, (size_t)written);
    for (Py_ssize_t i = written; i < n;) {
        if (in[i] == '%' && i + 2 < n && is_hex(in[i + 1]) && is_hex(in[i + 2])) {
            o[written++] = (unsigned char)(hex_value(in[i + 1]) << 4 | hex_value(in[i + 2]));
            i += 3;
            continue;
        }
        const unsigned char *next = i + 1 < n ? memchr(in + i + 1, '%', (size_t)(n - i - 1)) : NULL;
        Py_ssize_t upto = next == NULL ? n : next - in;
        memcpy(o + written, in + i, (size_t)(upto - i));
        written += upto - i;
        i = upto;
    }
    if (_PyBytes_Resize(&out, written) < 0)
        return NULL;
    return out;
}

static unsigned char base64_byte[256];

#define BASE64_MIN_RUN 16 /* embedded._MIN_RUN */
#define WRAPPED_FROM 40    /* a line of a wrapped block is this long at least (embedded._RUN) */

/* The spans of embedded._RUN: a run of sixteen base64 characters or more not preceded by
 * one, continued over a line break (and "\r") after a line of forty or more and onto a
 * line of at least one, then up to two "=". */
static PyObject *base64_runs(PyObject *module, PyObject *text) {
    if (!PyUnicode_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "base64_runs() takes a str");
        return NULL;
    }
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    PyObject *spans = PyList_New(0);
    if (spans == NULL)
        return NULL;
    Py_ssize_t i = 0;
    const Py_UCS1 *bytes = kind == PyUnicode_1BYTE_KIND ? data : NULL;
    while (i < n) {
        if (!is_base64(PyUnicode_READ(kind, data, i))) {
            i++;
            continue;
        }
        Py_ssize_t start = i;
        if (bytes != NULL) /* a blob is one run of thousands: a table look-up a byte */
            while (i < n && base64_byte[bytes[i]])
                i++;
        while (i < n && is_base64(PyUnicode_READ(kind, data, i)))
            i++;
        if (i - start < BASE64_MIN_RUN)
            continue; /* inside the run the look-behind refuses every start */
        Py_ssize_t line = i - start;
        for (;;) {
            if (line < WRAPPED_FROM)
                break;
            Py_ssize_t j = i;
            if (char_at(kind, data, n, j) == '\r')
                j++;
            if (char_at(kind, data, n, j) != '\n' || !is_base64(char_at(kind, data, n, j + 1)))
                break;
            Py_ssize_t from = ++j;
            while (j < n && is_base64(PyUnicode_READ(kind, data, j)))
                j++;
            line = j - from;
            i = j;
        }
        for (int k = 0; k < 2 && i < n && PyUnicode_READ(kind, data, i) == '='; k++)
            i++;
        PyObject *span = Py_BuildValue("(nn)", start, i);
        if (span == NULL || PyList_Append(spans, span) < 0) {
            Py_XDECREF(span);
            Py_DECREF(spans);
            return NULL;
        }
        Py_DECREF(span);
    }
    return spans;
}

static PyMethodDef methods[] = {
    {"quoted_printable_hint", quoted_printable_hint, METH_O,
     "Whether the text holds quoted-printable, as embedded._has_quoted_printable says."},
    {"percent_decoded", percent_decoded, METH_O, "urllib.parse.unquote_to_bytes of bytes."},
    {"base64_runs", base64_runs, METH_O, "The (start, end) spans embedded._RUN finds in a str."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_escapes", NULL, -1, methods};

PyMODINIT_FUNC PyInit__escapes(void) {
    for (int c = 0; c < 256; c++)
        base64_byte[c] = (unsigned char)is_base64((Py_UCS4)c);
    return PyModule_Create(&module);
}
