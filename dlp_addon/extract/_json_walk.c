/*
 * The walk over a parsed JSON document (json_doc._Walker.container) in C.
 *
 * An API's JSON is tens of thousands of short values per MiB, and the walk in Python (one
 * step, two joined place names, a Segment and a call into the encodings check per value) was
 * more than half of the time the engine spent on it. This is the same walk: the same values,
 * in the same order, with the same places, fields, groups and layouts, handed on the same
 * way. A string goes straight to the segments only where `content.add_value` would do no
 * more than that: ASCII, not opening like a JSON document, with none of the characters any
 * textual escape needs, and, when it is long enough to be base64, not mixing cases (see
 * embedded._open_base64). Every other string goes through `add_value` itself, and nesting
 * deeper than the walker's recursion depth goes to the walker's own explicit stack, so the
 * rules live in json_doc.py and content.py; tests/unit/test_json_walk.py holds the two
 * walks to the same output on seeded random documents.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#ifndef Py_T_OBJECT_EX /* Python 3.11: the member types live in structmember.h */
#include <structmember.h>
#define Py_T_OBJECT_EX T_OBJECT_EX
#endif

#define SMALLEST_NUMBER 1000000LL /* json_doc._SMALLEST_NUMBER: a phone number has seven digits */
#define BASE64_MIN_RUN 16         /* embedded._MIN_RUN */

typedef struct {
    PyObject *pairs_type;      /* json_doc._Pairs: tuple, a list or tuple being read alike */
    PyObject *segment_type;    /* model.Segment */
    Py_ssize_t segment_slots[5]; /* where its text, where, field, group and layout are held */
    PyObject *segments;        /* the budget's list of segments */
    PyObject *where;           /* "body:json" */
    PyObject *depth;           /* passed on to add_value */
    PyObject *budget;
    PyObject *add_value;       /* (value, budget, where, field, group, depth) */
    PyObject *key_worth_reading;
    PyObject *numbers_read;
    PyObject *deep;            /* the walker's explicit stack: (value, path, group, key) */
    PyObject *out_of_time;     /* budget.out_of_time */
    PyObject *out_of_time_exc; /* json_doc._OutOfTime */
    PyObject *value_layout, *text_layout, *empty, *any_item;
    PyObject *key_cache;       /* name -> its KEY_ flags: a list's records repeat a few keys */
    PyObject *families, *lists; /* group -> what is named after it (see family_of, items_of) */
    PyObject *colon, *dot, *open_index, *key_suffix, *keys_suffix;
    long recurse_to;
    long check_every;
    long steps;
    Py_ssize_t inspected;
} Walk;

static int late(Walk *w) {
    PyObject *r = PyObject_CallOneArg(w->out_of_time, w->where);
    if (r == NULL)
        return -1;
    int is_late = PyObject_IsTrue(r);
    Py_DECREF(r);
    if (is_late > 0)
        PyErr_SetNone(w->out_of_time_exc);
    return is_late ? -1 : 0;
}

/* 1 when `add_value` would only add the string as a segment. */
static int plain_string(PyObject *s) {
    if (!PyUnicode_IS_ASCII(s))
        return 0;
    Py_ssize_t n = PyUnicode_GET_LENGTH(s);
    const Py_UCS1 *c = PyUnicode_1BYTE_DATA(s);
    if (n > 1 && (c[0] == '{' || c[0] == '['))
        return 0;
    if (n >= BASE64_MIN_RUN) {
        /* Both cases turn up within the first characters of base64, the only long strings
         * read to the end here are in one case (hex, ids, words). */
        int upper = 0, lower = 0;
        for (Py_ssize_t i = 0; i < n && !(upper && lower); i++) {
            upper |= (c[i] >= 'A' && c[i] <= 'Z');
            lower |= (c[i] >= 'a' && c[i] <= 'z');
        }
        if (upper && lower)
            return 0;
    }
    size_t size = (size_t)n;
    return !(memchr(c, '&', size) || memchr(c, '%', size) || memchr(c, '=', size) || memchr(c, '\\', size));
}

/* Where a Segment holds each of its five fields: it is a dataclass with slots whose __init__
 * only stores them, so the walk fills them in itself rather than calling the class for each
 * value it reads (API JSON's extraction went from 78 to 89 MB/s).
 * 0 when the class is not built that way, and is then called. */
static const char *SEGMENT_FIELDS[5] = {"text", "where", "field", "group", "layout"};

static int slots_of(PyObject *type, Py_ssize_t *offsets) {
    if (!PyType_Check(type))
        return 0;
    for (int i = 0; i < 5; i++) {
        PyObject *d = PyObject_GetAttrString(type, SEGMENT_FIELDS[i]);
        if (d == NULL) {
            PyErr_Clear();
            return 0;
        }
        int slot = Py_IS_TYPE(d, &PyMemberDescr_Type) && ((PyMemberDescrObject *)d)->d_member->type == Py_T_OBJECT_EX &&
                   ((PyMemberDescrObject *)d)->d_common.d_type == (PyTypeObject *)type;
        if (slot)
            offsets[i] = ((PyMemberDescrObject *)d)->d_member->offset;
        Py_DECREF(d);
        if (!slot)
            return 0;
    }
    return 1;
}

static int add_segment(Walk *w, PyObject *text, PyObject *place, PyObject *field, PyObject *group,
                       PyObject *layout) {
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    if (n == 0)
        return 0; /* Budget.add keeps no empty segment */
    PyObject *args[5] = {text, place, field, group, layout};
    PyObject *segment;
    if (w->segment_slots[0] > 0) {
        PyTypeObject *type = (PyTypeObject *)w->segment_type;
        segment = type->tp_alloc(type, 0);
        if (segment == NULL)
            return -1;
        for (int i = 0; i < 5; i++)
            *(PyObject **)((char *)segment + w->segment_slots[i]) = Py_NewRef(args[i]);
    } else {
        segment = PyObject_Vectorcall(w->segment_type, args, 5, NULL);
        if (segment == NULL)
            return -1;
    }
    int failed = PyList_Append(w->segments, segment);
    Py_DECREF(segment);
    if (failed)
        return -1;
    w->inspected += n;
    return 0;
}

/* The parts joined, as one new string: PyUnicode_FromFormat parses its format on every call,
 * and the walk joins a place name or two for every value. */
static PyObject *joined(PyObject *const *parts, int count) {
    Py_ssize_t n = 0;
    Py_UCS4 widest = 127;
    for (int i = 0; i < count; i++) {
        n += PyUnicode_GET_LENGTH(parts[i]);
        Py_UCS4 most = PyUnicode_MAX_CHAR_VALUE(parts[i]);
        if (most > widest)
            widest = most;
    }
    PyObject *out = PyUnicode_New(n, widest);
    if (out == NULL)
        return NULL;
    Py_ssize_t at = 0;
    for (int i = 0; i < count; i++) {
        if (PyUnicode_CopyCharacters(out, at, parts[i], 0, PyUnicode_GET_LENGTH(parts[i])) < 0) {
            Py_DECREF(out);
            return NULL;
        }
        at += PyUnicode_GET_LENGTH(parts[i]);
    }
    return out;
}

static PyObject *joined2(PyObject *a, PyObject *b) {
    PyObject *parts[2] = {a, b};
    return joined(parts, 2);
}

static PyObject *joined3(PyObject *a, PyObject *b, PyObject *c) {
    PyObject *parts[3] = {a, b, c};
    return joined(parts, 3);
}

/* Every record of a list has the same group, so what is named after a group (its family,
 * "body:json:$.rows[*].", each member's group, "body:json:$.rows[*].phone", each child
 * container's group, and for a list its item group and its items' family) is made once per
 * group and name and shared by the segments, instead of once per value. A Family is a tuple
 * (family, {name: member's group}, {name: child container's group}). Bounded: past
 * CACHED_NAMES groups or names in one cache, names are made for each use. */
#define CACHED_NAMES 4096

/* A new reference to the group's Family. */
static PyObject *family_of(Walk *w, PyObject *group) {
    PyObject *entry = PyDict_GetItemWithError(w->families, group);
    if (entry != NULL)
        return Py_NewRef(entry);
    if (PyErr_Occurred())
        return NULL;
    PyObject *parts[4] = {w->where, w->colon, group, w->dot};
    PyObject *name = joined(parts, 4), *members = PyDict_New(), *children = PyDict_New();
    if (name != NULL && members != NULL && children != NULL)
        entry = PyTuple_Pack(3, name, members, children);
    Py_XDECREF(name);
    Py_XDECREF(members);
    Py_XDECREF(children);
    if (entry != NULL && PyDict_GET_SIZE(w->families) < CACHED_NAMES && PyDict_SetItem(w->families, group, entry) < 0)
        Py_CLEAR(entry);
    return entry;
}

/* head (+ separator) + name, remembered in `cache` under the name (a new reference). */
static PyObject *named(PyObject *cache, PyObject *head, PyObject *separator, PyObject *name) {
    PyObject *hit = PyDict_GetItemWithError(cache, name);
    if (hit != NULL)
        return Py_NewRef(hit);
    if (PyErr_Occurred())
        return NULL;
    PyObject *made = separator == NULL ? joined2(head, name) : joined3(head, separator, name);
    if (made != NULL && PyDict_GET_SIZE(cache) < CACHED_NAMES && PyDict_SetItem(cache, name, made) < 0)
        Py_CLEAR(made);
    return made;
}

/* A list's item group ("$.rows" -> "$.rows[*]") and its items' family ("body:json:$.rows[*]"),
 * as new references. */
static int items_of(Walk *w, PyObject *group, PyObject **item_group, PyObject **items) {
    PyObject *entry = PyDict_GetItemWithError(w->lists, group);
    if (entry != NULL) {
        *item_group = Py_NewRef(PyTuple_GET_ITEM(entry, 0));
        *items = Py_NewRef(PyTuple_GET_ITEM(entry, 1));
        return 0;
    }
    if (PyErr_Occurred())
        return -1;
    *item_group = joined2(group, w->any_item);
    *items = *item_group != NULL ? joined3(w->where, w->colon, *item_group) : NULL;
    if (*items == NULL) {
        Py_CLEAR(*item_group);
        return -1;
    }
    if (PyDict_GET_SIZE(w->lists) < CACHED_NAMES) {
        PyObject *pair = PyTuple_Pack(2, *item_group, *items);
        int failed = pair == NULL || PyDict_SetItem(w->lists, group, pair) < 0;
        Py_XDECREF(pair);
        if (failed) {
            Py_CLEAR(*item_group);
            Py_CLEAR(*items);
            return -1;
        }
    }
    return 0;
}

static int string_value(Walk *w, PyObject *s, PyObject *place, PyObject *field, PyObject *group) {
    if (plain_string(s)) {
        const Py_UCS1 *c = PyUnicode_1BYTE_DATA(s);
        int multiline = memchr(c, '\n', (size_t)PyUnicode_GET_LENGTH(s)) != NULL;
        return add_segment(w, s, place, field, group, multiline ? w->text_layout : w->value_layout);
    }
    PyObject *args[6] = {s, w->budget, place, field, group, w->depth};
    PyObject *r = PyObject_Vectorcall(w->add_value, args, 6, NULL);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    return 0;
}

static int call_flag(PyObject *fn, PyObject *arg) {
    PyObject *r = PyObject_CallOneArg(fn, arg);
    if (r == NULL)
        return -1;
    int flag = PyObject_IsTrue(r);
    Py_DECREF(r);
    return flag;
}

#define CACHED_KEYS 4096
enum { KEY_WORTH_READING = 1, NUMBERS_READ = 2 };

/* What the walk asks of a name, both at once and remembered: whether it is read as a
 * value itself (key_worth_reading) and whether numbers under it are (numbers_read); -1 on an
 * error. */
static int key_flags(Walk *w, PyObject *name) {
    PyObject *hit = PyDict_GetItemWithError(w->key_cache, name);
    if (hit != NULL)
        return (int)PyLong_AsLong(hit);
    if (PyErr_Occurred())
        return -1;
    int worth = call_flag(w->key_worth_reading, name);
    int read = worth < 0 ? -1 : call_flag(w->numbers_read, name);
    if (read < 0)
        return -1;
    int flags = (worth ? KEY_WORTH_READING : 0) | (read ? NUMBERS_READ : 0);
    if (PyDict_GET_SIZE(w->key_cache) < CACHED_KEYS) {
        PyObject *value = PyLong_FromLong(flags);
        int failed = value == NULL || PyDict_SetItem(w->key_cache, name, value) < 0;
        Py_XDECREF(value);
        if (failed)
            return -1;
    }
    return flags;
}

/* head + the index + "]" (a list item's place, or "[" in head for a list's child). */
static PyObject *indexed(PyObject *head, const char *open, Py_ssize_t index) {
    /* Written out by hand: snprintf parsed its format for every item of every list. */
    char digits[24], tail[32];
    int count = 0, k = 0;
    size_t u = (size_t)index;
    do {
        digits[count++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    while (*open)
        tail[k++] = *open++;
    while (count)
        tail[k++] = digits[--count];
    tail[k++] = ']';
    Py_ssize_t n = PyUnicode_GET_LENGTH(head);
    PyObject *out = PyUnicode_New(n + k, PyUnicode_MAX_CHAR_VALUE(head));
    if (out == NULL)
        return NULL;
    if (PyUnicode_CopyCharacters(out, 0, head, 0, n) < 0) {
        Py_DECREF(out);
        return NULL;
    }
    int kind = PyUnicode_KIND(out);
    void *data = PyUnicode_DATA(out);
    for (int j = 0; j < k; j++)
        PyUnicode_WRITE(kind, data, n + j, (Py_UCS4)tail[j]);
    return out;
}

/* 1: long enough to be read, 0: too short, -1: error. */
static int long_enough(PyObject *number) {
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(number, &overflow);
    if (overflow)
        return 1;
    if (v == -1 && PyErr_Occurred())
        return -1;
    return v <= -SMALLEST_NUMBER || v >= SMALLEST_NUMBER;
}

/* How many characters str(number) has, for a number only counted; -1 where it does not fit
 * a long long (the caller then makes the string). */
static Py_ssize_t written_length(PyObject *number) {
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(number, &overflow);
    if (overflow || (v == -1 && PyErr_Occurred())) {
        PyErr_Clear();
        return -1;
    }
    Py_ssize_t n = v < 0 ? 2 : 1;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    for (; u >= 10; u /= 10)
        n++;
    return n;
}

static int number_value(Walk *w, PyObject *number, PyObject *place, PyObject *field, PyObject *group,
                        int read) {
    if (!read) {
        Py_ssize_t n = written_length(number);
        if (n >= 0) {
            w->inspected += n;
            return 0;
        }
    }
    PyObject *text = PyObject_Str(number);
    if (text == NULL)
        return -1;
    int failed = 0;
    if (read)
        failed = add_segment(w, text, place, field, group, w->value_layout);
    else
        w->inspected += PyUnicode_GET_LENGTH(text);
    Py_DECREF(text);
    return failed;
}

/* 1 when the walk hands the value on (a string, or a whole number long enough to be a phone
 * number; a flag is no number here), 0 when it makes nothing of it, -1 on an error. */
static int handed_on(PyObject *value) {
    if (PyUnicode_CheckExact(value))
        return 1;
    return PyLong_CheckExact(value) ? long_enough(value) : 0;
}

/* A value handed on, at its place: a string as add_value takes it, a number as its digits
 * (read only where its key lets a number be a phone number). */
static int leaf(Walk *w, PyObject *value, PyObject *place, PyObject *field, PyObject *group, int read) {
    if (PyUnicode_CheckExact(value))
        return string_value(w, value, place, field, group);
    return number_value(w, value, place, field, group, read);
}

static int container(Walk *w, PyObject *value, PyObject *path, PyObject *group, PyObject *key, long nesting);

static int is_object(Walk *w, PyObject *v) {
    return Py_IS_TYPE(v, (PyTypeObject *)w->pairs_type) || PyDict_CheckExact(v);
}

static int is_container(Walk *w, PyObject *v) {
    return is_object(w, v) || PyList_CheckExact(v);
}

/* The clock within a container of many values, as _Walker._timed reads it. */
static int timed(Walk *w, Py_ssize_t number, Py_ssize_t size) {
    if (size > w->check_every && number % w->check_every == w->check_every - 1)
        return late(w);
    return 0;
}

/* The next member of an object, as borrowed references to its name and value, read from
 * the pairs json.loads makes an object into (json_doc._Pairs) or from a dict (what the fast
 * parser makes, where the document repeats no name: json_doc._parsed). `at` is the position
 * to read from, moved on. 1: a member, 0: no more, -1: an error. */
static int next_member(PyObject *value, Py_ssize_t *at, PyObject **name, PyObject **child) {
    if (PyDict_CheckExact(value)) {
        if (!PyDict_Next(value, at, name, child))
            return 0;
    } else {
        if (*at >= PySequence_Fast_GET_SIZE(value))
            return 0;
        PyObject *pair = PySequence_Fast_GET_ITEM(value, *at);
        (*at)++;
        if (!PyTuple_CheckExact(pair) || PyTuple_GET_SIZE(pair) != 2) {
            PyErr_SetString(PyExc_TypeError, "an object's members must be (name, value) pairs");
            return -1;
        }
        *name = PyTuple_GET_ITEM(pair, 0);
        *child = PyTuple_GET_ITEM(pair, 1);
    }
    if (!PyUnicode_Check(*name)) {
        PyErr_SetString(PyExc_TypeError, "an object's names must be strings");
        return -1;
    }
    return 1;
}

static int object(Walk *w, PyObject *value, PyObject *path, PyObject *group, long nesting) {
    int failed = -1, more;
    PyObject *parts[4] = {w->where, w->colon, path, w->dot};
    PyObject *place = joined(parts, 4); /* "body:json:$.rows[3]." */
    PyObject *entry = place != NULL ? family_of(w, group) : NULL;
    if (entry == NULL)
        goto done;
    PyObject *family = PyTuple_GET_ITEM(entry, 0);
    PyObject *members = PyTuple_GET_ITEM(entry, 1), *children = PyTuple_GET_ITEM(entry, 2);
    Py_ssize_t size = PyDict_CheckExact(value) ? PyDict_GET_SIZE(value) : PySequence_Fast_GET_SIZE(value);
    PyObject *name, *child;
    Py_ssize_t at = 0, k = 0;
    unsigned char flags_of[64]; /* the first members' names' flags, for the second loop */
    while ((more = next_member(value, &at, &name, &child)) > 0) {
        int flags = key_flags(w, name);
        if (flags < 0)
            goto done;
        if (k < 64)
            flags_of[k] = (unsigned char)flags;
        k++;
        if (flags & KEY_WORTH_READING) {
            PyObject *where = joined3(place, name, w->key_suffix);
            PyObject *keys = joined3(family, name, w->keys_suffix);
            int bad = where == NULL || keys == NULL || add_segment(w, name, where, w->empty, keys, w->value_layout);
            Py_XDECREF(where);
            Py_XDECREF(keys);
            if (bad)
                goto done;
        }
    }
    if (more < 0)
        goto done;
    at = 0;
    for (Py_ssize_t i = 0; (more = next_member(value, &at, &name, &child)) > 0; i++) {
        if (timed(w, i, size) < 0)
            goto done;
        Py_INCREF(name);
        Py_INCREF(child);
        int bad = 0, taken = handed_on(child);
        if (taken < 0) {
            bad = 1;
        } else if (taken) {
            int number = PyLong_CheckExact(child);
            int read = !number ? 0 : i < 64 ? flags_of[i] : key_flags(w, name);
            if (read >= 0)
                read &= NUMBERS_READ;
            if (read < 0) {
                bad = 1;
            } else if (number && !read) {
                /* An id's, a time's or an amount's: only counted, so no place is named for it. */
                bad = number_value(w, child, NULL, NULL, NULL, 0) < 0;
            } else {
                PyObject *where = joined2(place, name), *in_group = named(members, family, NULL, name);
                bad = where == NULL || in_group == NULL || leaf(w, child, where, name, in_group, read);
                Py_XDECREF(where);
                Py_XDECREF(in_group);
            }
        } else if (is_container(w, child)) {
            PyObject *child_path = joined3(path, w->dot, name);
            PyObject *child_group = named(children, group, w->dot, name);
            bad = child_path == NULL || child_group == NULL || container(w, child, child_path, child_group, name, nesting + 1);
            Py_XDECREF(child_path);
            Py_XDECREF(child_group);
        }
        Py_DECREF(name);
        Py_DECREF(child);
        if (bad)
            goto done;
    }
    failed = more < 0 ? -1 : 0;
done:
    Py_XDECREF(place);
    Py_XDECREF(entry);
    return failed;
}

static int list(Walk *w, PyObject *value, PyObject *path, PyObject *group, PyObject *key, long nesting) {
    int failed = -1;
    PyObject *item_group = NULL, *family = NULL;
    PyObject *parts[4] = {w->where, w->colon, path, w->open_index};
    PyObject *place = joined(parts, 4); /* "body:json:$.rows[" */
    if (place == NULL)
        goto done;
    int read = key_flags(w, key);
    if (read >= 0)
        read &= NUMBERS_READ;
    if (read < 0 || items_of(w, group, &item_group, &family) < 0)
        goto done;
    Py_ssize_t size = PyList_GET_SIZE(value);
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(value); i++) {
        if (timed(w, i, size) < 0)
            goto done;
        PyObject *child = PyList_GET_ITEM(value, i);
        Py_INCREF(child);
        int bad = 0, taken = handed_on(child);
        if (taken < 0) {
            bad = 1;
        } else if (taken) {
            PyObject *where = indexed(place, "", i);
            bad = where == NULL || leaf(w, child, where, key, family, read);
            Py_XDECREF(where);
        } else if (is_container(w, child)) {
            PyObject *child_path = indexed(path, "[", i);
            bad = child_path == NULL || container(w, child, child_path, item_group, key, nesting + 1);
            Py_XDECREF(child_path);
        }
        Py_DECREF(child);
        if (bad)
            goto done;
    }
    failed = 0;
done:
    Py_XDECREF(item_group);
    Py_XDECREF(place);
    Py_XDECREF(family);
    return failed;
}

static int container(Walk *w, PyObject *value, PyObject *path, PyObject *group, PyObject *key, long nesting) {
    w->steps++;
    if (w->steps % w->check_every == 0 && late(w) < 0)
        return -1;
    if (nesting >= w->recurse_to) {
        PyObject *args[4] = {value, path, group, key};
        PyObject *r = PyObject_Vectorcall(w->deep, args, 4, NULL);
        if (r == NULL)
            return -1;
        Py_DECREF(r);
        return 0;
    }
    if (is_object(w, value))
        return object(w, value, path, group, nesting);
    return list(w, value, path, group, key, nesting);
}

/* walk(document, path, group, key, pairs_type, segment_type, budget, where, depth, add_value,
 *      key_worth_reading, numbers_read, deep, out_of_time_exc, recurse_to, check_every)
 * Adds what it hands on straight to budget.segments and budget.bytes_inspected (also when
 * it stops early) and returns the number of containers walked. */
static PyObject *walk(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 16) {
        PyErr_SetString(PyExc_TypeError, "walk() takes 16 arguments");
        return NULL;
    }
    PyObject *document = args[0], *path = args[1], *group = args[2], *key = args[3];
    Walk w = {0};
    w.pairs_type = args[4];
    w.segment_type = args[5];
    w.budget = args[6];
    w.where = args[7];
    w.depth = args[8];
    w.add_value = args[9];
    w.key_worth_reading = args[10];
    w.numbers_read = args[11];
    w.deep = args[12];
    w.out_of_time_exc = args[13];
    if (!slots_of(w.segment_type, w.segment_slots))
        w.segment_slots[0] = 0;
    w.recurse_to = PyLong_AsLong(args[14]);
    w.check_every = PyLong_AsLong(args[15]);
    if (PyErr_Occurred())
        return NULL;
    /* An object's pairs are read as a list's or a tuple's items: nothing else may stand for them. */
    if (!PyType_Check(w.pairs_type) ||
        !(PyType_IsSubtype((PyTypeObject *)w.pairs_type, &PyTuple_Type) ||
          PyType_IsSubtype((PyTypeObject *)w.pairs_type, &PyList_Type)) ||
        !PyUnicode_Check(path) || !PyUnicode_Check(group) || !PyUnicode_Check(key) ||
        !PyUnicode_Check(w.where) || w.check_every <= 0) {
        PyErr_SetString(PyExc_TypeError, "walk(): bad arguments");
        return NULL;
    }
    if (!is_container(&w, document)) {
        PyErr_SetString(PyExc_TypeError, "walk(): the document must be an object or a list");
        return NULL;
    }
    PyObject *result = NULL;
    w.segments = PyObject_GetAttrString(w.budget, "segments");
    w.out_of_time = PyObject_GetAttrString(w.budget, "out_of_time");
    w.value_layout = PyUnicode_InternFromString("value");
    w.text_layout = PyUnicode_InternFromString("text");
    w.empty = PyUnicode_InternFromString("");
    w.any_item = PyUnicode_InternFromString("[*]");
    w.key_cache = PyDict_New();
    w.families = PyDict_New();
    w.lists = PyDict_New();
    w.colon = PyUnicode_InternFromString(":");
    w.dot = PyUnicode_InternFromString(".");
    w.open_index = PyUnicode_InternFromString("[");
    w.key_suffix = PyUnicode_InternFromString(":key");
    w.keys_suffix = PyUnicode_InternFromString(":keys");
    if (w.segments == NULL || w.out_of_time == NULL || w.value_layout == NULL || w.text_layout == NULL ||
        w.empty == NULL || w.any_item == NULL || w.key_cache == NULL ||
        w.families == NULL || w.lists == NULL || w.colon == NULL || w.dot == NULL || w.open_index == NULL ||
        w.key_suffix == NULL || w.keys_suffix == NULL)
        goto done;
    if (!PyList_CheckExact(w.segments)) {
        PyErr_SetString(PyExc_TypeError, "walk(): budget.segments must be a list");
        goto done;
    }
    int failed = container(&w, document, path, group, key, 0);
    /* What was handed on is counted, whether or not the walk got to the end. */
    PyObject *type, *error, *trace;
    PyErr_Fetch(&type, &error, &trace);
    PyObject *before = PyObject_GetAttrString(w.budget, "bytes_inspected");
    PyObject *added = before ? PyLong_FromSsize_t(w.inspected) : NULL;
    PyObject *after = added ? PyNumber_Add(before, added) : NULL;
    int counted = after != NULL && PyObject_SetAttrString(w.budget, "bytes_inspected", after) == 0;
    Py_XDECREF(before);
    Py_XDECREF(added);
    Py_XDECREF(after);
    if (type != NULL) {
        PyErr_Restore(type, error, trace);
        goto done;
    }
    if (!counted || failed)
        goto done;
    result = PyLong_FromLong(w.steps);
done:
    Py_XDECREF(w.segments);
    Py_XDECREF(w.out_of_time);
    Py_XDECREF(w.value_layout);
    Py_XDECREF(w.text_layout);
    Py_XDECREF(w.empty);
    Py_XDECREF(w.any_item);
    Py_XDECREF(w.key_cache);
    Py_XDECREF(w.families);
    Py_XDECREF(w.lists);
    Py_XDECREF(w.colon);
    Py_XDECREF(w.dot);
    Py_XDECREF(w.open_index);
    Py_XDECREF(w.key_suffix);
    Py_XDECREF(w.keys_suffix);
    return result;
}

/* -- what lets json_doc take the fast parser's document (json_doc._parsed) ---------------
 *
 * A fast parser makes an object a dict, which keeps only the last of a repeated name, and
 * turns a whole number past 64 bits into a float. Its document is taken only where neither
 * happened: the text's members, counted as its colons outside strings (in valid JSON a colon
 * stands nowhere else), are as many as the dicts hold, and no number is written with as many
 * digits as the 64-bit range ends at. */

#define LONGEST_EXACT_DIGITS 18 /* every whole number of 18 digits fits in 64 bits, signed */

/* The colons outside strings of a text the fast parser accepted, or -1 where a number has
 * more than LONGEST_EXACT_DIGITS digits in a row. A 1-byte text (most JSON) is read as bytes,
 * jumping from quote to quote inside strings. */
static Py_ssize_t colons_in_bytes(const Py_UCS1 *c, Py_ssize_t n) {
    Py_ssize_t colons = 0, run = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS1 b = c[i];
        if (b == '"') {
            run = 0;
            for (i++;; i++) { /* to the next quote not escaped by a backslash */
                const Py_UCS1 *quote = i < n ? memchr(c + i, '"', (size_t)(n - i)) : NULL;
                if (quote == NULL)
                    return colons; /* an open string: not JSON after all */
                Py_ssize_t at = quote - c, slashes = 0;
                while (at - slashes - 1 >= i && c[at - slashes - 1] == '\\')
                    slashes++;
                i = at;
                if (slashes % 2 == 0)
                    break;
            }
        } else if (b >= '0' && b <= '9') {
            if (++run > LONGEST_EXACT_DIGITS)
                return -1;
        } else {
            run = 0;
            colons += b == ':';
        }
    }
    return colons;
}

static Py_ssize_t colons_outside_strings(int kind, const void *data, Py_ssize_t n) {
    if (kind == PyUnicode_1BYTE_KIND)
        return colons_in_bytes((const Py_UCS1 *)data, n);
    Py_ssize_t colons = 0, run = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (c == '"') {
            run = 0;
            for (i++; i < n; i++) {
                Py_UCS4 d = PyUnicode_READ(kind, data, i);
                if (d == '\\')
                    i++;
                else if (d == '"')
                    break;
            }
        } else if (c >= '0' && c <= '9') {
            if (++run > LONGEST_EXACT_DIGITS)
                return -1;
        } else {
            run = 0;
            colons += c == ':';
        }
    }
    return colons;
}

static PyObject *written_members(PyObject *module, PyObject *text) {
    if (!PyUnicode_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "written_members() takes a str");
        return NULL;
    }
    return PyLong_FromSsize_t(
        colons_outside_strings(PyUnicode_KIND(text), PyUnicode_DATA(text), PyUnicode_GET_LENGTH(text)));
}

/* The members of every dict in the document, or -1 on an error. */
static Py_ssize_t count_members(PyObject *value) {
    int is_dict = PyDict_CheckExact(value);
    if (!is_dict && !PyList_CheckExact(value))
        return 0;
    if (Py_EnterRecursiveCall(" counting a JSON document's members"))
        return -1;
    Py_ssize_t total = 0;
    if (is_dict) {
        PyObject *name, *child;
        Py_ssize_t at = 0;
        total = PyDict_GET_SIZE(value);
        while (total >= 0 && PyDict_Next(value, &at, &name, &child)) {
            Py_ssize_t inner = count_members(child);
            total = inner < 0 ? -1 : total + inner;
        }
    } else {
        for (Py_ssize_t i = 0; total >= 0 && i < PyList_GET_SIZE(value); i++) {
            Py_ssize_t inner = count_members(PyList_GET_ITEM(value, i));
            total = inner < 0 ? -1 : total + inner;
        }
    }
    Py_LeaveRecursiveCall();
    return total;
}

static PyObject *members(PyObject *module, PyObject *document) {
    Py_ssize_t total = count_members(document);
    return total < 0 ? NULL : PyLong_FromSsize_t(total);
}

static PyMethodDef methods[] = {
    {"walk", (PyCFunction)(void (*)(void))walk, METH_FASTCALL,
     "Every value of a parsed JSON document handed on as json_doc's walker does."},
    {"written_members", written_members, METH_O,
     "The members a valid JSON text writes (its colons outside strings), or -1 where it writes a number "
     "of more than 18 digits."},
    {"members", members, METH_O, "The members of every dict in a document of dicts and lists."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_json_walk", NULL, -1, methods};

PyMODINIT_FUNC PyInit__json_walk(void) {
    return PyModule_Create(&module);
}
