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
#include <string.h>
#include <stdint.h>

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

/* The decimal digits of the Basic Multilingual Plane, one bit each, filled in when the module
 * loads: prose in Cyrillic, Arabic or Han is read a character at a time, and asking the
 * Unicode database of each letter whether it is a digit was most of the scan's time. */
static unsigned char bmp_decimal[65536 / 8];
/* The same with "(" and "+": what may start a candidate, one look for each character of a
 * two-byte text. */
static unsigned char bmp_may_start[65536 / 8];

static void fill_bmp_decimal(void) {
    for (Py_UCS4 c = 0; c < 65536; c++)
        if (Py_UNICODE_ISDECIMAL(c) || c == '(' || c == '+') {
            if (c != '(' && c != '+')
                bmp_decimal[c >> 3] |= (unsigned char)(1u << (c & 7));
            bmp_may_start[c >> 3] |= (unsigned char)(1u << (c & 7));
        }
}

/* `\d` of the stdlib engine on str patterns: any Unicode decimal digit. */
static inline int is_digit(Py_UCS4 c) {
    if (c < 128) return c >= '0' && c <= '9';
    if (c < 65536) return (bmp_decimal[c >> 3] >> (c & 7)) & 1;
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

static int append_span(PyObject *list, Py_ssize_t start, Py_ssize_t end) {
    PyObject *span = PyTuple_New(2);
    if (span == NULL)
        return -1;
    PyObject *first = PyLong_FromSsize_t(start), *second = PyLong_FromSsize_t(end);
    if (first == NULL || second == NULL) {
        Py_XDECREF(first);
        Py_XDECREF(second);
        Py_DECREF(span);
        return -1;
    }
    PyTuple_SET_ITEM(span, 0, first);
    PyTuple_SET_ITEM(span, 1, second);
    int failed = PyList_Append(list, span);
    Py_DECREF(span);
    return failed;
}

/* The bare-number check's automaton (numbering_automaton.py): next states by digit, -1 for none. */
typedef struct {
    const int32_t *next;
    const char *accepting;
    Py_ssize_t states;
} Plans;

enum { UNDECIDED, FITS, FITS_NOT, BROKEN_TABLE };

/* Whether the digits of text[start:end], separators skipped, fit a numbering plan. */
static int fits(const Plans *plans, const Text *t, Py_ssize_t start, Py_ssize_t end) {
    Py_ssize_t state = 0;
    for (Py_ssize_t i = start; i < end; i++) {
        Py_UCS4 c = PyUnicode_READ(t->kind, t->data, i);
        if (c < '0' || c > '9')
            continue;
        state = plans->next[state * 10 + (c - '0')];
        if (state < 0)
            return FITS_NOT;
        if (state >= plans->states)
            return BROKEN_TABLE;
    }
    return plans->accepting[state] ? FITS : FITS_NOT;
}

/*
 * What the detector's first look at a run decides, taken here where it can be (phone.py,
 * PhoneDetector._scan_segment): only runs of ASCII digits and separators that open with
 * neither "+" nor "00" and hold no space. A bare run that fits no plan is a rejected member of
 * its column; a separated one that fits none, a decimal like 170.721267 or a dotted quad, is
 * dropped.
 */
/* Four groups of one to three digits between three dots, and nothing else (the caller has
 * counted the dots and seen only digits besides). */
static int dotted_quad(const Text *t, Py_ssize_t start, Py_ssize_t end) {
    Py_ssize_t group = 0;
    for (Py_ssize_t i = start; i < end; i++) {
        if (PyUnicode_READ(t->kind, t->data, i) == '.') {
            if (group == 0)
                return 0;
            group = 0;
        } else if (++group > 3) {
            return 0;
        }
    }
    return group > 0;
}

static int look(const Plans *plans, const Text *t, Py_ssize_t start, Py_ssize_t end, int *bare) {
    int digits_only = 1, dots = 0, others = 0;
    for (Py_ssize_t i = start; i < end; i++) {
        Py_UCS4 c = PyUnicode_READ(t->kind, t->data, i);
        if (c >= '0' && c <= '9')
            continue;
        if (c >= 128 || c == ' ')
            return UNDECIDED;
        digits_only = 0;
        if (c == '.')
            dots++;
        else
            others++;
    }
    Py_ssize_t first = start;
    while (first < end && PyUnicode_READ(t->kind, t->data, first) == '(')
        first++;
    if (first < end && PyUnicode_READ(t->kind, t->data, first) == '+')
        return UNDECIDED;
    if (first + 1 < end && PyUnicode_READ(t->kind, t->data, first) == '0' &&
        PyUnicode_READ(t->kind, t->data, first + 1) == '0')
        return UNDECIDED;
    *bare = digits_only;
    Py_UCS4 opening = PyUnicode_READ(t->kind, t->data, start);
    Py_UCS4 closing = PyUnicode_READ(t->kind, t->data, end - 1);
    if (dots == 1 && others == 0 && opening != '.' && closing != '.')
        return FITS_NOT;  /* phone._DECIMAL */
    if (dots == 3 && others == 0 && dotted_quad(t, start, end))
        return FITS_NOT;  /* phone._DOTTED_QUAD: an address (API JSON is full of them) */
    return fits(plans, t, start, end);
}

/* Calls `each(start, end, context)` for every candidate span, in order; -1 on error. */
typedef int (*SpanSink)(Py_ssize_t start, Py_ssize_t end, void *context);

static inline int may_start(Py_UCS4 c) {
    return c == '(' || c == '+' || is_digit(c);
}

static inline int may_start_byte(Py_UCS1 c) {
    return (c >= '0' && c <= '9') || c == '(' || c == '+';
}

/* What each byte of a one-byte text is to the scan: whether it may start a candidate (a
 * digit, "(" or "+"), whether it is a digit, and whether a digit after it starts nothing
 * (starts_clear: a digit, a letter, "_", "+" or "@"). Filled in when the module loads. */
enum { MAY_START = 1, DIGIT = 2, GLUES = 4 };
static unsigned char byte_class[256];

static void fill_byte_class(void) {
    for (int c = 0; c < 256; c++) {
        unsigned char f = 0;
        if (may_start_byte((Py_UCS1)c))
            f |= MAY_START;
        if (c >= '0' && c <= '9')
            f |= DIGIT;
        if ((c >= '0' && c <= '9') || is_ascii_letter((Py_UCS4)c) || c == '_' || c == '+' || c == '@')
            f |= GLUES;
        byte_class[c] = f;
    }
}

/* Whether a word of eight bytes holds a digit, "(" or "+": exact word tests for a byte
 * between '0' and '9' and for a zero byte after xor ("Bit Twiddling Hacks": hasbetween,
 * haszero). */
static inline int word_may_start(uint64_t x) {
    const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL, low7 = ones * 127;
    uint64_t digit = ((ones * (127 + '9' + 1)) - (x & low7)) & ~x & ((x & low7) + ones * (127 - ('0' - 1))) & high;
    uint64_t open = x ^ (ones * '('), plus = x ^ (ones * '+');
    return (digit | ((open - ones) & ~open & high) | ((plus - ones) & ~plus & high)) != 0;
}

/* Whether a byte of class `f` may start a candidate after one of class `before`: computed
 * with bitwise operators rather than branches, since in base64 or hex whether the next byte
 * is a digit is a coin toss the processor cannot predict, while an open start is rare. */
static inline unsigned opens(unsigned f, unsigned before) {
    return f & ~((f >> 1) & (before >> 2)) & MAY_START;
}

/* The first position from p where a candidate may start, or n: a digit, "(" or "+", less
 * the digits glued to what is before them (base64, hex ids and UUIDs are full of these, and
 * the rest of such a digit run is glued too). A byte at a time while starts are near (in
 * digit-dense text the next one is a few bytes away); after sixteen bytes with none, eight
 * at a time over a stretch without a digit, "(" or "+" (prose, tokens, markup). */
static Py_ssize_t next_start_byte(const Py_UCS1 *bytes, Py_ssize_t p, Py_ssize_t n) {
    while (p < n) {
        unsigned before = p > 0 ? byte_class[bytes[p - 1]] : 0;
        for (Py_ssize_t stop = n - p > 16 ? p + 16 : n; p < stop; p++) {
            unsigned f = byte_class[bytes[p]];
            if (opens(f, before))
                return p;
            before = f;
        }
        for (; p + 8 <= n; p += 8) {
            uint64_t x;
            memcpy(&x, bytes + p, sizeof x);
            if (word_may_start(x))
                break;
        }
        if (p + 8 > n) { /* the tail, shorter than a word */
            before = p > 0 ? byte_class[bytes[p - 1]] : 0;
            for (; p < n; p++) {
                unsigned f = byte_class[bytes[p]];
                if (opens(f, before))
                    return p;
                before = f;
            }
        }
    }
    return n;
}

static int each_candidate(const Text *t, SpanSink each, void *context) {
    Py_ssize_t p = 0;
    const Py_UCS1 *bytes = t->kind == PyUnicode_1BYTE_KIND ? t->data : NULL;
    const Py_UCS2 *wide = t->kind == PyUnicode_2BYTE_KIND ? t->data : NULL;
    while (p < t->length) {
        if (bytes != NULL) {
            /* Latin-1 holds no decimal digits beyond ASCII's. */
            p = next_start_byte(bytes, p, t->length);
            if (p >= t->length)
                break;
        } else if (wide != NULL) {
            while (p < t->length && !((bmp_may_start[wide[p] >> 3] >> (wide[p] & 7)) & 1))
                p++;
            if (p >= t->length)
                break;
        }
        Py_UCS4 c = PyUnicode_READ(t->kind, t->data, p);
        Py_ssize_t end = may_start(c) ? candidate_end(t, p) : -1;
        if (end < 0) {
            p++;
            /* The rest of a digit run after a failed start is preceded by a digit, which
             * starts_clear refuses: no candidate starts there either. */
            if (is_digit(c))
                while (p < t->length && is_digit(PyUnicode_READ(t->kind, t->data, p)))
                    p++;
            continue;
        }
        if (each(p, end, context) < 0)
            return -1;
        p = end;
    }
    return 0;
}

static int collect(Py_ssize_t start, Py_ssize_t end, void *spans) {
    return append_span((PyObject *)spans, start, end);
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
    if (each_candidate(&t, collect, spans) < 0) {
        Py_DECREF(spans);
        return NULL;
    }
    return spans;
}

typedef struct {
    const Text *text;
    const Plans *plans;
    PyObject *spans, *rejected; /* rejected NULL: packed instead */
    int64_t *packed;            /* start, end, start, end, ... */
    Py_ssize_t rejected_count, packed_room;
} Sorting;

static int pack_span(Sorting *s, Py_ssize_t start, Py_ssize_t end) {
    if (2 * s->rejected_count >= s->packed_room) {
        Py_ssize_t room = s->packed_room ? 2 * s->packed_room : 256;
        int64_t *grown = PyMem_Realloc(s->packed, (size_t)room * sizeof(int64_t));
        if (grown == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        s->packed = grown;
        s->packed_room = room;
    }
    s->packed[2 * s->rejected_count] = start;
    s->packed[2 * s->rejected_count + 1] = end;
    return 0;
}

static int sort_one(Py_ssize_t start, Py_ssize_t end, void *context) {
    Sorting *s = context;
    int bare = 0;
    switch (look(s->plans, s->text, start, end, &bare)) {
    case FITS_NOT:
        if (!bare)
            return 0;
        if ((s->rejected == NULL ? pack_span(s, start, end) : append_span(s->rejected, start, end)) < 0)
            return -1;
        s->rejected_count++;
        return 0;
    case BROKEN_TABLE:
        PyErr_SetString(PyExc_ValueError, "the automaton names a state it does not have");
        return -1;
    default:
        return append_span(s->spans, start, end);
    }
}

static PyObject *scan(PyObject *module, PyObject *args) {
    PyObject *text;
    Py_buffer next, accepting;
    if (!PyArg_ParseTuple(args, "Uy*y*:scan", &text, &next, &accepting))
        return NULL;
    PyObject *result = NULL, *spans = NULL, *rejected = NULL;
    if (accepting.len < 1 || next.len != accepting.len * 10 * (Py_ssize_t)sizeof(int32_t)) {
        PyErr_SetString(PyExc_ValueError, "scan() needs ten int32 next states for each accepting flag");
        goto done;
    }
    Text t = {PyUnicode_KIND(text), PyUnicode_DATA(text), PyUnicode_GET_LENGTH(text)};
    Plans plans = {next.buf, accepting.buf, accepting.len};
    spans = PyList_New(0);
    rejected = PyList_New(0);
    if (spans == NULL || rejected == NULL)
        goto done;
    Sorting sorting = {&t, &plans, spans, rejected, NULL, 0, 0};
    if (each_candidate(&t, sort_one, &sorting) < 0)
        goto done;
    result = PyTuple_Pack(2, spans, rejected);
done:
    Py_XDECREF(spans);
    Py_XDECREF(rejected);
    PyBuffer_Release(&next);
    PyBuffer_Release(&accepting);
    return result;
}

/* For an ASCII text of digits alone that is one candidate from its start to its end: FITS or
 * FITS_NOT as the bare-number check says (its one run is then all `scan` finds: spans
 * [(0, n)] or rejected [(0, n)]); UNDECIDED for any other text. A JSON document's numbers
 * and many of its strings are such texts. */
static int whole_bare_run(const Plans *plans, PyObject *text) {
    Text t = {PyUnicode_1BYTE_KIND, PyUnicode_1BYTE_DATA(text), PyUnicode_GET_LENGTH(text)};
    const Py_UCS1 *c = t.data;
    for (Py_ssize_t i = 0; i < t.length; i++)
        if (c[i] < '0' || c[i] > '9')
            return UNDECIDED;
    if (candidate_end(&t, 0) != t.length)
        return UNDECIDED;
    int bare = 0;
    return look(plans, &t, 0, t.length, &bare);
}

/* scan_all(texts, next_states, accepting, listed_up_to=-1, wholes=False): `scan` over each str of a list, as
 * [(index, spans, rejected), ...] for the texts where it found any run. A JSON document or a
 * form is thousands of short values, and most hold no run at all: they cost no Python here.
 * A text longer than `listed_up_to` characters (if that is not negative) has its rejected runs
 * packed into bytes instead, as int64 start, end, start, end...: a table of counters has a
 * hundred thousand, and a tuple each cost as much as the scan. With `wholes`, a text that is
 * one bare run and nothing else (whole_bare_run) is (index, None, whether it fits a plan):
 * no lists to make and compare for most of an API's hits. */
static PyObject *scan_all(PyObject *module, PyObject *args) {
    PyObject *texts;
    Py_buffer next, accepting;
    Py_ssize_t listed_up_to = -1;
    int wholes = 0;
    if (!PyArg_ParseTuple(args, "O!y*y*|np:scan_all", &PyList_Type, &texts, &next, &accepting, &listed_up_to, &wholes))
        return NULL;
    PyObject *hits = NULL, *spans = NULL, *rejected = NULL;
    int64_t *packed = NULL;
    Py_ssize_t packed_room = 0;
    if (accepting.len < 1 || next.len != accepting.len * 10 * (Py_ssize_t)sizeof(int32_t)) {
        PyErr_SetString(PyExc_ValueError, "scan_all() needs ten int32 next states for each accepting flag");
        goto failed;
    }
    Plans plans = {next.buf, accepting.buf, accepting.len};
    hits = PyList_New(0);
    if (hits == NULL)
        goto failed;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(texts); i++) {
        PyObject *text = PyList_GET_ITEM(texts, i);
        if (!PyUnicode_Check(text)) {
            PyErr_SetString(PyExc_TypeError, "scan_all() takes a list of str");
            goto failed;
        }
        Py_ssize_t length = PyUnicode_GET_LENGTH(text);
        int listed = listed_up_to < 0 || length <= listed_up_to;
        if (wholes && length >= MIN_STEPS + 1 && length <= MAX_STEPS + 1 && PyUnicode_IS_ASCII(text)) {
            int whole = whole_bare_run(&plans, text);
            if (whole == BROKEN_TABLE) {
                PyErr_SetString(PyExc_ValueError, "the automaton names a state it does not have");
                goto failed;
            }
            if (whole != UNDECIDED) {
                PyObject *hit = Py_BuildValue("(nOO)", i, Py_None, whole == FITS ? Py_True : Py_False);
                int appended = hit != NULL ? PyList_Append(hits, hit) : -1;
                Py_XDECREF(hit);
                if (appended < 0)
                    goto failed;
                continue;
            }
        }
        /* Kept across texts while they stay empty: most texts find nothing. */
        if (spans == NULL && (spans = PyList_New(0)) == NULL)
            goto failed;
        if (listed && rejected == NULL && (rejected = PyList_New(0)) == NULL)
            goto failed;
        Text t = {PyUnicode_KIND(text), PyUnicode_DATA(text), length};
        Sorting sorting = {&t, &plans, spans, listed ? rejected : NULL, packed, 0, packed_room};
        int failed = each_candidate(&t, sort_one, &sorting) < 0;
        packed = sorting.packed; /* it may have grown */
        packed_room = sorting.packed_room;
        if (failed)
            goto failed;
        if (PyList_GET_SIZE(spans) == 0 && sorting.rejected_count == 0)
            continue;
        PyObject *runs = listed ? (Py_INCREF(rejected), rejected)
                                : PyBytes_FromStringAndSize((const char *)packed,
                                                            2 * sorting.rejected_count * (Py_ssize_t)sizeof(int64_t));
        PyObject *index = PyLong_FromSsize_t(i);
        PyObject *hit = runs != NULL && index != NULL ? PyTuple_Pack(3, index, spans, runs) : NULL;
        Py_XDECREF(index);
        Py_XDECREF(runs);
        if (hit == NULL)
            goto failed;
        int appended = PyList_Append(hits, hit);
        Py_DECREF(hit);
        if (appended < 0)
            goto failed;
        Py_CLEAR(spans);
        if (listed)
            Py_CLEAR(rejected);
    }
    Py_XDECREF(spans);
    Py_XDECREF(rejected);
    PyMem_Free(packed);
    PyBuffer_Release(&next);
    PyBuffer_Release(&accepting);
    return hits;
failed:
    Py_XDECREF(hits);
    Py_XDECREF(spans);
    Py_XDECREF(rejected);
    PyMem_Free(packed);
    PyBuffer_Release(&next);
    PyBuffer_Release(&accepting);
    return NULL;
}

/* accepts(digits, next_states, accepting): True or False, or None when `digits` holds
 * anything but ASCII digits (the caller then asks the regex). */
static PyObject *accepts(PyObject *module, PyObject *args) {
    PyObject *digits, *result = NULL;
    Py_buffer next, accepting;
    if (!PyArg_ParseTuple(args, "Uy*y*:accepts", &digits, &next, &accepting))
        return NULL;
    if (accepting.len < 1 || next.len != accepting.len * 10 * (Py_ssize_t)sizeof(int32_t)) {
        PyErr_SetString(PyExc_ValueError, "accepts() needs ten int32 next states for each accepting flag");
        goto done;
    }
    Text t = {PyUnicode_KIND(digits), PyUnicode_DATA(digits), PyUnicode_GET_LENGTH(digits)};
    for (Py_ssize_t i = 0; i < t.length; i++) {
        Py_UCS4 c = PyUnicode_READ(t.kind, t.data, i);
        if (c < '0' || c > '9') {
            result = Py_NewRef(Py_None);
            goto done;
        }
    }
    Plans plans = {next.buf, accepting.buf, accepting.len};
    switch (fits(&plans, &t, 0, t.length)) {
    case BROKEN_TABLE:
        PyErr_SetString(PyExc_ValueError, "the automaton names a state it does not have");
        break;
    case FITS:
        result = Py_NewRef(Py_True);
        break;
    default:
        result = Py_NewRef(Py_False);
    }
done:
    PyBuffer_Release(&next);
    PyBuffer_Release(&accepting);
    return result;
}

/* -- which bare runs of a free text can count (see PhoneDetector._weigh) ------------------ */

typedef struct {
    const Text *text;
    Py_UCS4 delimiter;       /* 0: none */
    PyObject *column_hints;  /* tuple of True/False/None per header column, or None */
    Py_ssize_t first_line_end;
    int field_hint;          /* 1, 0, -1 for True, False, None */
    PyObject *words;         /* tuple of ASCII lower-case str */
    unsigned char starts[128][128]; /* the words' first two letters */
} Weighing;

static int is_padding(Py_UCS4 c) { /* phone._CELL_PADDING */
    return c == ' ' || c == '\t' || c == '\r' || c == '"' || c == '\'' || c == '[' || c == ']' || c == '(' ||
           c == ')' || c == '{' || c == '}' || c == '<' || c == '>' || c == ';';
}

static int combine(int first, int second) { /* phone._combine */
    if (first == 1 || second == 1)
        return 1;
    if (first == 0 || second == 0)
        return 0;
    return -1;
}

static int hint_of(PyObject *value) {
    return value == Py_True ? 1 : value == Py_False ? 0 : -1;
}

/* What _TextLayout.header_for and _place_label say of a run in `column` of its line. */
static int place_label(const Weighing *w, Py_ssize_t column, Py_ssize_t start) {
    int header = -1;
    if (w->column_hints != Py_None && start > w->first_line_end && column < PyTuple_GET_SIZE(w->column_hints))
        header = hint_of(PyTuple_GET_ITEM(w->column_hints, column));
    return combine(w->field_hint, header);
}

/* Whether _TextLayout.groups_for gives the run a group: it is its cell's whole value, with
 * only padding between it and its cell's ends (a delimiter, a line break, the text's ends).
 * Read outwards from the run and stopped at the first other character, so that a line of
 * megabytes costs no more per run than a short one. */
static int alone(const Weighing *w, Py_ssize_t start, Py_ssize_t end) {
    const Text *t = w->text;
    for (Py_ssize_t i = start - 1; i >= 0; i--) {
        Py_UCS4 c = at(t, i);
        if (c == '\n' || (w->delimiter && c == w->delimiter))
            break;
        if (!is_padding(c))
            return 0;
    }
    for (Py_ssize_t i = end; i < t->length; i++) {
        Py_UCS4 c = at(t, i);
        if (c == '\n' || (w->delimiter && c == w->delimiter))
            break;
        if (!is_padding(c))
            return 0;
    }
    return 1;
}

/* phone_context.may_name_a_phone over the window phone._context reads (32 before, 16 after). */
static int may_name_a_phone(const Weighing *w, Py_ssize_t start, Py_ssize_t end) {
    const Text *t = w->text;
    Py_ssize_t from = start > 32 ? start - 32 : 0, to = end + 16 < t->length ? end + 16 : t->length;
    char window[256];
    if (to - from > (Py_ssize_t)sizeof window)
        return 1;
    Py_ssize_t n = 0;
    for (Py_ssize_t i = from; i < to; i++) {
        Py_UCS4 c = at(t, i);
        if (c >= 128)
            return 1; /* not ASCII: the full label decides */
        window[n++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    for (Py_ssize_t i = 0; i + 1 < n; i++) {
        if (!w->starts[(unsigned char)window[i]][(unsigned char)window[i + 1]])
            continue;
        for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(w->words); k++) {
            PyObject *word = PyTuple_GET_ITEM(w->words, k);
            Py_ssize_t size = PyUnicode_GET_LENGTH(word);
            if (i + size <= n && memcmp(window + i, PyUnicode_1BYTE_DATA(word), (size_t)size) == 0)
                return 1;
        }
    }
    return 0;
}

static int bare(const Text *t, Py_ssize_t start, Py_ssize_t end) {
    if (end - start >= 2 && at(t, start) == '0' && at(t, start + 1) == '0')
        return 0; /* "00" is an international prefix: read as one */
    for (Py_ssize_t i = start; i < end; i++) {
        Py_UCS4 c = at(t, i);
        if (c < '0' || c > '9')
            return 0;
    }
    return 1;
}

/* worth_weighing(text, spans, delimiter, column_hints, first_line_end, field_hint, words):
 * the spans of a free text less the bare ASCII runs that PhoneDetector._weigh would drop
 * without a trace: labelled as something else by their field or column, or with no label,
 * no cell of their own and no phone word around them. In a beacon or a log, most. */
static PyObject *worth_weighing(PyObject *module, PyObject *args) {
    PyObject *text, *spans, *delimiter, *column_hints, *field_hint, *words;
    Py_ssize_t first_line_end;
    if (!PyArg_ParseTuple(args, "UO!UOnOO!:worth_weighing", &text, &PyList_Type, &spans, &delimiter, &column_hints,
                          &first_line_end, &field_hint, &PyTuple_Type, &words))
        return NULL;
    if ((column_hints != Py_None && !PyTuple_Check(column_hints)) || PyUnicode_GET_LENGTH(delimiter) > 1) {
        PyErr_SetString(PyExc_TypeError, "worth_weighing(): column hints must be a tuple or None, the delimiter one character");
        return NULL;
    }
    Text t = {PyUnicode_KIND(text), PyUnicode_DATA(text), PyUnicode_GET_LENGTH(text)};
    Weighing w = {&t, PyUnicode_GET_LENGTH(delimiter) ? PyUnicode_READ_CHAR(delimiter, 0) : 0, column_hints,
                  first_line_end, hint_of(field_hint), words};
    memset(w.starts, 0, sizeof w.starts);
    for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(words); k++) {
        PyObject *word = PyTuple_GET_ITEM(words, k);
        if (!PyUnicode_Check(word) || !PyUnicode_IS_ASCII(word) || PyUnicode_GET_LENGTH(word) < 2) {
            PyErr_SetString(PyExc_TypeError, "worth_weighing(): the words must be ASCII, two letters or more");
            return NULL;
        }
        const Py_UCS1 *c = PyUnicode_1BYTE_DATA(word);
        w.starts[c[0]][c[1]] = 1;
    }
    PyObject *kept = PyList_New(0), *cells = PyDict_New();
    if (kept == NULL || cells == NULL)
        goto failed;
    /* The line and column the scan has reached, counted as it goes: each character once. */
    Py_ssize_t column = 0, scanned = 0;
    for (Py_ssize_t k = 0; k < PyList_GET_SIZE(spans); k++) {
        PyObject *span = PyList_GET_ITEM(spans, k);
        Py_ssize_t start, end;
        if (!PyTuple_Check(span) || !PyArg_ParseTuple(span, "nn", &start, &end) || start < 0 || end > t.length ||
            start > end || start < scanned) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_ValueError, "worth_weighing(): spans must be in order and inside the text");
            goto failed;
        }
        for (; scanned < start; scanned++) {
            Py_UCS4 c = at(&t, scanned);
            if (c == '\n')
                column = 0;
            else if (w.delimiter && c == w.delimiter)
                column++;
        }
        int keep = 1, is_alone = -1;
        if (bare(&t, start, end)) {
            int label = place_label(&w, column, start);
            if (label == 0)
                keep = 0;
            else if (label == -1)
                keep = (is_alone = alone(&w, start, end)) || may_name_a_phone(&w, start, end);
        }
        if (!keep)
            continue;
        if (is_alone < 0)
            is_alone = alone(&w, start, end);
        PyObject *key = PyLong_FromSsize_t(start);
        PyObject *cell = key != NULL ? Py_BuildValue("(nnO)", end, column, is_alone ? Py_True : Py_False) : NULL;
        int failed = cell == NULL || PyDict_SetItem(cells, key, cell) < 0 || PyList_Append(kept, span) < 0;
        Py_XDECREF(key);
        Py_XDECREF(cell);
        if (failed)
            goto failed;
    }
    PyObject *result = PyTuple_Pack(2, kept, cells);
    Py_DECREF(kept);
    Py_DECREF(cells);
    return result;
failed:
    Py_XDECREF(kept);
    Py_XDECREF(cells);
    return NULL;
}

/* grouped_parts(raw, windows, windows_of, next_states, accepting): the grouping check's look
 * at a spaced or dotted ASCII run (PhoneDetector._part_may_be_grouped) short of the
 * country-by-country fit: True when a part that may be read starts with "00" (and not
 * "000"), else [(part's digits, countries), ...] for the parts of a shape that may fit a
 * grouping whose digits the bare-number automaton accepts, in order. `windows` is the cache
 * of shapes (the run with each digit written as 9) to what _GroupingCheck.windows gives,
 * `windows_of` that method, asked on a miss. Russian prose has a spaced amount or a date in
 * every other sentence, and this was 3 us of Python each. */
static PyObject *grouped_parts(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 5 || !PyUnicode_Check(args[0]) || !PyUnicode_IS_ASCII(args[0]) || !PyDict_Check(args[1]) ||
        !PyBytes_Check(args[3]) || !PyBytes_Check(args[4])) {
        PyErr_SetString(PyExc_TypeError, "grouped_parts(ascii str, dict, callable, bytes, bytes)");
        return NULL;
    }
    PyObject *raw = args[0], *cache = args[1], *windows_of = args[2];
    Py_ssize_t states = PyBytes_GET_SIZE(args[4]);
    if (states < 1 || PyBytes_GET_SIZE(args[3]) != states * 10 * (Py_ssize_t)sizeof(int32_t)) {
        PyErr_SetString(PyExc_ValueError, "grouped_parts() needs ten int32 next states for each accepting flag");
        return NULL;
    }
    const int32_t *next = (const int32_t *)PyBytes_AS_STRING(args[3]);
    const char *accepting = PyBytes_AS_STRING(args[4]);
    Py_ssize_t n = PyUnicode_GET_LENGTH(raw);
    const Py_UCS1 *c = PyUnicode_1BYTE_DATA(raw);
    PyObject *shape = PyUnicode_New(n, 127), *found = NULL, *windows = NULL;
    char *digits = PyMem_Malloc((size_t)n + 1);
    if (shape == NULL || digits == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Py_UCS1 *shaped = PyUnicode_1BYTE_DATA(shape);
    Py_ssize_t count = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        int digit = c[i] >= '0' && c[i] <= '9';
        shaped[i] = digit ? '9' : c[i];
        if (digit)
            digits[count++] = (char)c[i];
    }
    windows = PyDict_GetItemWithError(cache, shape);
    if (windows != NULL)
        Py_INCREF(windows);
    else if (!PyErr_Occurred())
        windows = PyObject_CallOneArg(windows_of, shape);
    if (windows == NULL)
        goto done;
    if (!PyTuple_Check(windows) || PyTuple_GET_SIZE(windows) != 2 || !PyTuple_Check(PyTuple_GET_ITEM(windows, 0)) ||
        !PyTuple_Check(PyTuple_GET_ITEM(windows, 1))) {
        PyErr_SetString(PyExc_TypeError, "a shape's windows must be (starts, fitting) tuples");
        goto done;
    }
    PyObject *starts = PyTuple_GET_ITEM(windows, 0), *fitting = PyTuple_GET_ITEM(windows, 1);
    for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(starts); k++) {
        Py_ssize_t start = PyLong_AsSsize_t(PyTuple_GET_ITEM(starts, k));
        if (start == -1 && PyErr_Occurred())
            goto done;
        if (start >= 0 && start + 1 < count && digits[start] == '0' && digits[start + 1] == '0' &&
            !(start + 2 < count && digits[start + 2] == '0')) {
            found = Py_NewRef(Py_True); /* an international prefix counts without a label */
            goto done;
        }
    }
    found = PyList_New(0);
    if (found == NULL)
        goto done;
    for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(fitting); k++) {
        PyObject *window = PyTuple_GET_ITEM(fitting, k);
        if (!PyTuple_Check(window) || PyTuple_GET_SIZE(window) != 3) {
            PyErr_SetString(PyExc_TypeError, "a fitting window must be (start, end, countries)");
            Py_CLEAR(found);
            goto done;
        }
        Py_ssize_t start = PyLong_AsSsize_t(PyTuple_GET_ITEM(window, 0));
        Py_ssize_t end = PyLong_AsSsize_t(PyTuple_GET_ITEM(window, 1));
        if ((start == -1 || end == -1) && PyErr_Occurred()) {
            Py_CLEAR(found);
            goto done;
        }
        if (start < 0 || end > count || start > end)
            continue; /* a window of another shape: nothing of this run */
        int32_t state = 0;
        for (Py_ssize_t i = start; i < end && state >= 0; i++) {
            state = next[state * 10 + (digits[i] - '0')];
            if (state >= states) {
                PyErr_SetString(PyExc_ValueError, "the automaton names a state it does not have");
                Py_CLEAR(found);
                goto done;
            }
        }
        if (state < 0 || !accepting[state])
            continue;
        PyObject *part = PyUnicode_FromStringAndSize(digits + start, end - start);
        PyObject *pair = part != NULL ? PyTuple_Pack(2, part, PyTuple_GET_ITEM(window, 2)) : NULL;
        Py_XDECREF(part);
        if (pair == NULL || PyList_Append(found, pair) < 0) {
            Py_XDECREF(pair);
            Py_CLEAR(found);
            goto done;
        }
        Py_DECREF(pair);
    }
done:
    Py_XDECREF(shape);
    Py_XDECREF(windows);
    PyMem_Free(digits);
    return found;
}

static PyMethodDef methods[] = {
    {"find", find, METH_O, "Spans of the phone-number candidates in a str, as phone._CANDIDATE finds them."},
    {"scan", scan, METH_VARARGS,
     "scan(text, next_states, accepting) -> (spans, rejected): the candidates, with the runs that fail the "
     "bare-number check taken out (see PhoneDetector._scan_segment); bare ones are listed in rejected."},
    {"scan_all", scan_all, METH_VARARGS,
     "scan_all(texts, next_states, accepting, listed_up_to=-1, wholes=False) -> [(index, spans, rejected), ...]: "
     "scan() over each str of a list, for the texts where it found any run; a text longer than listed_up_to "
     "has its rejected runs packed into bytes (int64 start, end, ...); with wholes, a text that is one bare run "
     "alone is (index, None, whether it fits)."},
    {"worth_weighing", worth_weighing, METH_VARARGS,
     "worth_weighing(text, spans, delimiter, column_hints, first_line_end, field_hint, words) -> (the spans "
     "less the bare runs PhoneDetector._weigh would drop without a trace, {start: (end, column, alone)} of "
     "those kept)."},
    {"grouped_parts", (PyCFunction)(void (*)(void))grouped_parts, METH_FASTCALL,
     "grouped_parts(raw, windows, windows_of, next_states, accepting) -> True where a part of the spaced "
     "ASCII run starts with 00, else [(digits, countries), ...] of the parts that may fit a grouping and "
     "that the automaton accepts."},
    {"accepts", accepts, METH_VARARGS,
     "accepts(digits, next_states, accepting) -> whether the automaton accepts the digits; None if they are "
     "not all ASCII digits."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_phone_runs", "Phone-number candidates found in C.", -1, methods,
};

PyMODINIT_FUNC PyInit__phone_runs(void) {
    fill_bmp_decimal();
    fill_byte_class();
    return PyModule_Create(&module);
}
