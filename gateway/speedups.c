/* gateway.speedups: the per-socket work of a fanout in C, with gateway.frames as its pure-Python
 * twin (the same function, the same bytes; tests/unit/test_frames.py runs both).
 *
 * Why C for this one function: it runs once per flushed socket of every fanout, and in Python
 * its cost is a struct.pack per frame, a list of pieces and a bytes.join (~0.8 us a flush with
 * one dispatch, bench/RESULTS.md "Per-recipient Python"). Here it is two passes over the list:
 * sum the sizes, then copy each piece once into the result.
 *
 * Optional, like python-websockets' speedups module: setup.py builds it with optional=True (no
 * compiler: a warning, the install goes on), and gateway.listener falls back to gateway.frames
 * when the import fails or DISCORD_ARCH_NO_SPEEDUPS is set.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

/* The size of a server frame's header (RFC 6455 5.2: no mask) for an n-byte payload. */
static inline Py_ssize_t
header_size(Py_ssize_t n)
{
    return n < 126 ? 2 : n < 65536 ? 4 : 10;
}

static inline char *
write_header(char *p, unsigned char first, Py_ssize_t n)
{
    *p++ = (char)first;
    if (n < 126) {
        *p++ = (char)n;
    } else if (n < 65536) {
        *p++ = 126;
        *p++ = (char)(n >> 8);
        *p++ = (char)n;
    } else {
        unsigned long long u = (unsigned long long)n;
        int shift;
        *p++ = 127;
        for (shift = 56; shift >= 0; shift -= 8) {
            *p++ = (char)(u >> shift);
        }
    }
    return p;
}

/* A piece of a frame: bytes or bytearray (what gateway.frames' bytes.join takes and len()
 * measures in bytes). 0 and TypeError otherwise. */
static inline int
piece(PyObject *o, const char **data, Py_ssize_t *size)
{
    if (PyBytes_Check(o)) {
        *data = PyBytes_AS_STRING(o);
        *size = PyBytes_GET_SIZE(o);
        return 1;
    }
    if (PyByteArray_Check(o)) {
        *data = PyByteArray_AS_STRING(o);
        *size = PyByteArray_GET_SIZE(o);
        return 1;
    }
    PyErr_Format(PyExc_TypeError, "frames_buffer: a frame piece must be bytes, not %.100s",
                 Py_TYPE(o)->tp_name);
    return 0;
}

static inline int
add_size(Py_ssize_t *total, Py_ssize_t n)
{
    if (n > PY_SSIZE_T_MAX - *total) {
        PyErr_SetString(PyExc_OverflowError, "frames_buffer: the frames are too large");
        return 0;
    }
    *total += n;
    return 1;
}

PyDoc_STRVAR(frames_buffer_doc,
"frames_buffer(msg_type, out, /) -> (bytes, int)\n\n"
"Server frames (unmasked, FIN) for a session's ``out``, concatenated for one write, and the\n"
"number of frames in them. ``msg_type`` is the opcode (picows' WSMsgType, an IntEnum); an item\n"
"of ``out`` is a frame's bytes, or a dispatch's ``(prefix, suffix)`` tuple followed by its\n"
"``s`` bytes (one frame: prefix + s + suffix). See gateway.frames.frames_buffer.");

static PyObject *
frames_buffer(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    PyObject *seq, *result, *buffer;
    PyObject **items;
    Py_ssize_t n, i, total = 0, count = 0, opcode;
    unsigned char first;
    char *p;

    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "frames_buffer expected 2 arguments, got %zd", nargs);
        return NULL;
    }
    /* First: __index__ may run Python code, which must not run while items are borrowed. */
    opcode = PyNumber_AsSsize_t(args[0], PyExc_OverflowError);
    if (opcode == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (opcode < 0 || opcode > 0x7F) {
        PyErr_Format(PyExc_ValueError, "frames_buffer: opcode out of range: %zd", opcode);
        return NULL;
    }
    first = (unsigned char)(0x80 | opcode);
    seq = PySequence_Fast(args[1], "frames_buffer: out must be a sequence");
    if (seq == NULL) {
        return NULL;
    }
    /* Borrowed from here on: nothing below calls back into Python. */
    n = PySequence_Fast_GET_SIZE(seq);
    items = PySequence_Fast_ITEMS(seq);

    for (i = 0; i < n; i++) {  /* pass 1: the checks and the size */
        PyObject *item = items[i];
        const char *data;
        Py_ssize_t size, frame;
        count++;
        if (PyTuple_CheckExact(item)) {
            Py_ssize_t a, b;
            if (PyTuple_GET_SIZE(item) != 2) {
                PyErr_SetString(PyExc_ValueError,
                                "frames_buffer: a dispatch is a (prefix, suffix) tuple");
                goto error;
            }
            if (i + 1 >= n) {
                PyErr_SetString(PyExc_ValueError,
                                "frames_buffer: a dispatch's parts must be followed by its s");
                goto error;
            }
            if (!piece(PyTuple_GET_ITEM(item, 0), &data, &a)
                    || !piece(PyTuple_GET_ITEM(item, 1), &data, &b)
                    || !piece(items[++i], &data, &size)) {
                goto error;
            }
            frame = a + b;  /* each fits in a Py_ssize_t, so does the sum of two; then ... */
            if (frame < 0 || frame > PY_SSIZE_T_MAX - size) {
                PyErr_SetString(PyExc_OverflowError, "frames_buffer: the frames are too large");
                goto error;
            }
            frame += size;
        } else if (!piece(item, &data, &frame)) {
            goto error;
        }
        if (!add_size(&total, header_size(frame)) || !add_size(&total, frame)) {
            goto error;
        }
    }

    buffer = PyBytes_FromStringAndSize(NULL, total);
    if (buffer == NULL) {
        goto error;
    }
    p = PyBytes_AS_STRING(buffer);
    for (i = 0; i < n; i++) {  /* pass 2: the copy (every check passed) */
        PyObject *item = items[i];
        const char *pre, *suf, *s;
        Py_ssize_t npre, nsuf, ns;
        if (PyTuple_CheckExact(item)) {
            piece(PyTuple_GET_ITEM(item, 0), &pre, &npre);
            piece(PyTuple_GET_ITEM(item, 1), &suf, &nsuf);
            piece(items[++i], &s, &ns);
            p = write_header(p, first, npre + ns + nsuf);
            memcpy(p, pre, (size_t)npre);
            p += npre;
            memcpy(p, s, (size_t)ns);
            p += ns;
            memcpy(p, suf, (size_t)nsuf);
            p += nsuf;
        } else {
            piece(item, &s, &ns);
            p = write_header(p, first, ns);
            memcpy(p, s, (size_t)ns);
            p += ns;
        }
    }
    Py_DECREF(seq);
    result = PyTuple_New(2);
    if (result == NULL) {
        Py_DECREF(buffer);
        return NULL;
    }
    PyTuple_SET_ITEM(result, 0, buffer);
    PyTuple_SET_ITEM(result, 1, PyLong_FromSsize_t(count));
    if (PyTuple_GET_ITEM(result, 1) == NULL) {
        Py_DECREF(result);
        return NULL;
    }
    return result;

error:
    Py_DECREF(seq);
    return NULL;
}

static PyMethodDef speedups_methods[] = {
    {"frames_buffer", (PyCFunction)(void (*)(void))frames_buffer, METH_FASTCALL,
     frames_buffer_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT,
    "gateway.speedups",
    "C versions of gateway.frames' per-socket functions (optional: see gateway.listener).",
    0,
    speedups_methods,
    NULL,  /* m_slots */
    NULL,  /* m_traverse */
    NULL,  /* m_clear */
    NULL,  /* m_free */
};

PyMODINIT_FUNC
PyInit_speedups(void)
{
    return PyModuleDef_Init(&speedups_module);
}
