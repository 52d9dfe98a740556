/*
 * Phone-number candidates in normalised text, found in C.
 *
 * `find(text)` returns the (start, end) spans that `phone._CANDIDATE.finditer(text)` matches,
 * in order: the same pattern, worked out by hand because the candidate scan was a third of the
 * engine's time on digit-dense traffic (the regex engine restarts at every digit). The pattern
 * in phone.py stays the reference and the fallback; tests/unit/test_phone_runs.py holds the two
 * to the same spans on seeded random text.
 *
 * The pattern, piece by piece:
 *   [(+\d]                          first character
 *   look-behinds                    not inside a word, a number or an id like AB-123
 *   "(+ (" / "+ (" / "(" then a digit, or the first character was the digit
 *   (?:[ \-.()/]{0,3}\d){6,31}      six to thirty-one more digits, each after at most three
 *                                   separators; greedy, and given back one at a time until
 *   (?!(?!x\d)[\dA-Za-z_@]|[.\-/]\d)   the end is not followed by more of a number.
 * Each repetition is deterministic (the separators before a digit are all taken or the step
 * fails), so backtracking only ever gives back whole steps: the ends of the steps are kept and
 * tried from the last. Work per start position is bounded (at most 31 steps of 4 characters).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#define MIN_STEPS 6
#define MAX_STEPS 31
#define MAX_SEPARATORS 3

typedef struct {
    int kind;
    const void *data;
    Py_ssize_t length;
} Text;

static inline Py_UCS4 at(const Text *t, Py_ssize_t i) {
    return (i >= 0 && i < t->length) ? PyUnicode_READ(t->kind, t->data, i) : 0;
}

/* `\d` of the stdlib engine on str patterns: any Unicode decimal digit. */
static inline int is_digit(Py_UCS4 c) {
    if (c < 128) return c >= '0' && c <= '9';
    return Py_UNICODE_ISDECIMAL(c);
}

static inline int is_ascii_letter(Py_UCS4 c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static inline int is_separator(Py_UCS4 c) {
    return c == ' ' || c == '-' || c == '.' || c == '(' || c == ')' || c == '/';
}

/* Not preceded by a digit, a letter, "_", "+" or "@"; nor by a digit and "." or "-"; nor by a
 * letter and "-". */
static int starts_clear(const Text *t, Py_ssize_t p) {
    Py_UCS4 before = at(t, p - 1), two_before = at(t, p - 2);
    if (p >= 1 && (is_digit(before) || is_ascii_letter(before) || before == '_' || before == '+' || before == '@'))
        return 0;
    if (p >= 2 && is_digit(two_before) && (before == '.' || before == '-'))
        return 0;
    if (p >= 2 && is_ascii_letter(two_before) && before == '-')
        return 0;
    return 1;
}

/* The position just after the first digit, or -1. */
static Py_ssize_t first_digit_end(const Text *t, Py_ssize_t p) {
    Py_UCS4 c = at(t, p);
    if (is_digit(c))
        return p + 1;
    Py_ssize_t q = p + 1;
    if (c == '(') {
        if (at(t, q) == '+') {
            q++;
            if (at(t, q) == ' ') q++;
            if (at(t, q) == '(') q++;
        }
    } else if (c == '+') {
        if (at(t, q) == ' ') q++;
        if (at(t, q) == '(') q++;
    } else {
        return -1;
    }
    return (q < t->length && is_digit(at(t, q))) ? q + 1 : -1;
}

static int ends_clear(const Text *t, Py_ssize_t e) {
    if (e >= t->length)
        return 1;
    Py_UCS4 c = at(t, e), next = at(t, e + 1);
    int next_is_digit = e + 1 < t->length && is_digit(next);
    if (is_digit(c) || is_ascii_letter(c) || c == '_' || c == '@')
        return c == 'x' && next_is_digit;  /* "x123" is an extension */
    if ((c == '.' || c == '-' || c == '/') && next_is_digit)
        return 0;
    return 1;
}

/* The end of the candidate starting at p, or -1. */
static Py_ssize_t candidate_end(const Text *t, Py_ssize_t p) {
    if (!starts_clear(t, p))
        return -1;
    Py_ssize_t pos = first_digit_end(t, p);
    if (pos < 0)
        return -1;
    Py_ssize_t ends[MAX_STEPS];
    int steps = 0;
    while (steps < MAX_STEPS) {
        Py_ssize_t q = pos;
        int separators = 0;
        while (separators < MAX_SEPARATORS && q < t->length && is_separator(at(t, q))) {
            q++;
            separators++;
        }
        if (q >= t->length || !is_digit(at(t, q)))
            break;
        pos = q + 1;
        ends[steps++] = pos;
    }
    for (int k = steps; k >= MIN_STEPS; k--) {
        if (ends_clear(t, ends[k - 1]))
            return ends[k - 1];
    }
    return -1;
}

static PyObject *find(PyObject *module, PyObject *arg) {
    if (!PyUnicode_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "find() takes a str");
        return NULL;
    }
    Text t = {PyUnicode_KIND(arg), PyUnicode_DATA(arg), PyUnicode_GET_LENGTH(arg)};
    PyObject *spans = PyList_New(0);
    if (spans == NULL)
        return NULL;
    Py_ssize_t p = 0;
    while (p < t.length) {
        Py_UCS4 c = PyUnicode_READ(t.kind, t.data, p);
        Py_ssize_t end = (c == '(' || c == '+' || is_digit(c)) ? candidate_end(&t, p) : -1;
        if (end < 0) {
            p++;
            continue;
        }
        PyObject *span = Py_BuildValue("(nn)", p, end);
        if (span == NULL || PyList_Append(spans, span) < 0) {
            Py_XDECREF(span);
            Py_DECREF(spans);
            return NULL;
        }
        Py_DECREF(span);
        p = end;
    }
    return spans;
}

static PyMethodDef methods[] = {
    {"find", find, METH_O, "Spans of the phone-number candidates in a str, as phone._CANDIDATE finds them."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_phone_runs", "Phone-number candidates found in C.", -1, methods,
};

PyMODINIT_FUNC PyInit__phone_runs(void) {
    return PyModule_Create(&module);
}
