/*
 * Optional C accelerator for the hot path of websocket_ref.
 *
 * apply_mask(data, mask) -> bytes: RFC 6455 §5.3 [R6455-5.3-1] masking, i.e. payload octet i XOR
 * mask octet (i modulo 4). The pure-Python version in masking.py does the same with
 * big integers, which costs several passes over the payload plus conversions; here
 * the payload is read once and written once, eight bytes at a time (the compiler
 * vectorizes the loop), so masking runs at about the speed of a memory copy.
 *
 * socket_recv(fd, buffer) -> bytes and socket_send(fd, data) -> int (POSIX only): the
 * system calls of a non-blocking socket's recv_into() + copy and send(), for the asyncio
 * connection's direct reads and writes on asyncio's own TCP transport. The socket
 * module's methods parse their arguments generically (recv_into() with the keywords
 * parser) and release and re-acquire the GIL around each call; a non-blocking call
 * doesn't wait, so here small ones keep the GIL, like picows' transport.
 *
 * PayloadCollector(expected): a large payload's pieces (unmasked as they arrive)
 * copied into one bytes object that grows with them and becomes the payload: the
 * reference (masking.PayloadCollectorPython) keeps the pieces and joins them at the
 * end, so a process frees twice the payload per message, which makes glibc give
 * that memory back to the OS and fault it in again at every large message (see
 * masking.py).
 *
 * Nothing else lives here: every protocol decision stays in Python. If this module
 * can't be built (no compiler), masking.py and the asyncio connection fall back to
 * pure Python (masking.py, the socket module's methods).
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <string.h>

#ifndef _WIN32
#include <errno.h>
#include <sys/socket.h>
#include <sys/types.h>
#define HAVE_SOCKET_CALLS 1
#endif

/* Payloads at least this large are masked with the GIL released: other threads
 * (e.g. another connection's reader) run meanwhile. Below it, releasing and
 * re-acquiring the GIL costs more than the XOR itself. */
#define RELEASE_GIL_THRESHOLD 65536

static void
xor_mask(const unsigned char *src, unsigned char *dst, Py_ssize_t size,
         const unsigned char key[4])
{
    uint32_t key32;
    uint64_t key64;
    Py_ssize_t i = 0;

    memcpy(&key32, key, 4);
    key64 = ((uint64_t)key32 << 32) | key32;

    /* Four 8-byte words per step; memcpy() keeps unaligned access well defined
     * and compiles to plain (vector) loads and stores. */
    for (; i + 32 <= size; i += 32) {
        uint64_t a, b, c, d;
        memcpy(&a, src + i, 8);
        memcpy(&b, src + i + 8, 8);
        memcpy(&c, src + i + 16, 8);
        memcpy(&d, src + i + 24, 8);
        a ^= key64;
        b ^= key64;
        c ^= key64;
        d ^= key64;
        memcpy(dst + i, &a, 8);
        memcpy(dst + i + 8, &b, 8);
        memcpy(dst + i + 16, &c, 8);
        memcpy(dst + i + 24, &d, 8);
    }
    for (; i + 8 <= size; i += 8) {
        uint64_t a;
        memcpy(&a, src + i, 8);
        a ^= key64;
        memcpy(dst + i, &a, 8);
    }
    /* i is a multiple of 8 here, so the key's phase is back at octet 0. */
    for (; i < size; i++) {
        dst[i] = src[i] ^ key[i & 3];
    }
}

PyDoc_STRVAR(apply_mask_doc,
"apply_mask(data, mask, /) -> bytes\n"
"\n"
"Return data XORed with the 4-byte mask repeated over its length (RFC 6455 5.3).\n"
"data may be any object supporting the buffer protocol.");

static PyObject *
apply_mask(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer data, mask;
    PyObject *result = NULL;
    unsigned char key[4];
    unsigned char *out;

    (void)module;
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError,
                     "apply_mask() takes exactly 2 arguments (%zd given)", nargs);
        return NULL;
    }
    if (PyObject_GetBuffer(args[1], &mask, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    if (mask.len != 4) {
        PyBuffer_Release(&mask);
        PyErr_SetString(PyExc_ValueError, "mask must contain 4 bytes");
        return NULL;
    }
    memcpy(key, mask.buf, 4);
    PyBuffer_Release(&mask);

    if (PyObject_GetBuffer(args[0], &data, PyBUF_SIMPLE) == 0) {
        result = PyBytes_FromStringAndSize(NULL, data.len);
        if (result != NULL) {
            out = (unsigned char *)PyBytes_AS_STRING(result);
            /* The buffer export keeps a bytearray from being resized meanwhile. */
            if (data.len >= RELEASE_GIL_THRESHOLD) {
                Py_BEGIN_ALLOW_THREADS
                xor_mask((const unsigned char *)data.buf, out, data.len, key);
                Py_END_ALLOW_THREADS
            }
            else {
                xor_mask((const unsigned char *)data.buf, out, data.len, key);
            }
        }
        PyBuffer_Release(&data);
        return result;
    }
    if (!PyErr_ExceptionMatches(PyExc_BufferError)) {
        return NULL;
    }
    /* A non-contiguous buffer (e.g. a strided memoryview): gather it into the
     * result first, then mask in place. */
    PyErr_Clear();
    if (PyObject_GetBuffer(args[0], &data, PyBUF_FULL_RO) < 0) {
        return NULL;
    }
    result = PyBytes_FromStringAndSize(NULL, data.len);
    if (result != NULL) {
        out = (unsigned char *)PyBytes_AS_STRING(result);
        if (PyBuffer_ToContiguous(out, &data, data.len, 'C') < 0) {
            Py_CLEAR(result);
        }
        else {
            xor_mask(out, out, data.len, key);
        }
    }
    PyBuffer_Release(&data);
    return result;
}

#ifdef HAVE_SOCKET_CALLS
PyDoc_STRVAR(socket_recv_doc,
"socket_recv(fd, buffer, /) -> bytes\n"
"\n"
"Receive into buffer (writable, e.g. a memoryview of a bytearray) from the\n"
"non-blocking socket fd what one recv() gives, and return a copy of it: b'' at EOF.\n"
"Raise OSError as socket.recv_into() does (BlockingIOError when nothing is there).");

static PyObject *
socket_recv(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer buffer;
    PyObject *result;
    ssize_t n;
    long fd;

    (void)module;
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError,
                     "socket_recv() takes exactly 2 arguments (%zd given)", nargs);
        return NULL;
    }
    fd = PyLong_AsLong(args[0]);
    if (fd == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (PyObject_GetBuffer(args[1], &buffer, PyBUF_WRITABLE) < 0) {
        return NULL;
    }
    for (;;) {
        /* The socket is non-blocking: recv() returns at once, with the GIL held. */
        n = recv((int)fd, buffer.buf, (size_t)buffer.len, 0);
        if (n >= 0) {
            break;
        }
        /* As the socket module does: retry after a signal, unless its handler raised. */
        if (errno != EINTR || PyErr_CheckSignals() < 0) {
            if (!PyErr_Occurred()) {
                PyErr_SetFromErrno(PyExc_OSError);
            }
            PyBuffer_Release(&buffer);
            return NULL;
        }
    }
    result = PyBytes_FromStringAndSize((const char *)buffer.buf, (Py_ssize_t)n);
    PyBuffer_Release(&buffer);
    return result;
}

PyDoc_STRVAR(socket_send_doc,
"socket_send(fd, data, /) -> int\n"
"\n"
"Send what the non-blocking socket fd takes of data (any contiguous buffer) with one\n"
"send(), and return how many bytes it took. Raise OSError as socket.send() does\n"
"(BlockingIOError when it takes nothing).");

static PyObject *
socket_send(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer data;
    ssize_t n;
    long fd;
    int saved;

    (void)module;
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError,
                     "socket_send() takes exactly 2 arguments (%zd given)", nargs);
        return NULL;
    }
    fd = PyLong_AsLong(args[0]);
    if (fd == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (PyObject_GetBuffer(args[1], &data, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    for (;;) {
        /* Large writes copy much into the kernel: other threads run meanwhile. */
        if (data.len >= RELEASE_GIL_THRESHOLD) {
            Py_BEGIN_ALLOW_THREADS
            n = send((int)fd, data.buf, (size_t)data.len, 0);
            saved = errno;
            Py_END_ALLOW_THREADS
            errno = saved;
        }
        else {
            n = send((int)fd, data.buf, (size_t)data.len, 0);
        }
        if (n >= 0) {
            break;
        }
        if (errno != EINTR || PyErr_CheckSignals() < 0) {
            if (!PyErr_Occurred()) {
                PyErr_SetFromErrno(PyExc_OSError);
            }
            PyBuffer_Release(&data);
            return NULL;
        }
    }
    PyBuffer_Release(&data);
    return PyLong_FromSsize_t((Py_ssize_t)n);
}
#endif

/* PayloadCollector: see masking.PayloadCollectorPython, the reference. */

typedef struct {
    PyObject_HEAD
    PyObject *bytes;        /* the payload so far: a bytes object no one else sees */
    Py_ssize_t size;        /* bytes collected: the size of `bytes` (0: NULL) */
    Py_ssize_t expected;    /* the payload's length: never collect more */
    int busy;               /* an append() is running with the GIL released */
} PayloadCollector;

static int
collector_init(PayloadCollector *self, PyObject *args, PyObject *kwds)
{
    Py_ssize_t expected;
    static char *kwlist[] = {"expected", NULL};

    if (!PyArg_ParseTupleAndKeywords(args, kwds, "n:PayloadCollector", kwlist, &expected)) {
        return -1;
    }
    if (expected < 0) {
        PyErr_SetString(PyExc_ValueError, "expected must be >= 0");
        return -1;
    }
    Py_CLEAR(self->bytes);
    self->size = 0;
    self->expected = expected;
    self->busy = 0;
    return 0;
}

static void
collector_dealloc(PayloadCollector *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    Py_CLEAR(self->bytes);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

static int
collector_check_idle(PayloadCollector *self)
{
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "PayloadCollector used by two threads at once");
        return -1;
    }
    return 0;
}

/* Make `bytes` `needed` bytes long: exactly what has arrived, never more. glibc's
 * realloc() extends the block in place, or remaps a mapped one, where it can, so the
 * bytes collected so far are rarely copied again; growing ahead instead (by half as
 * much again, say) can end a payload in a block larger than glibc's mapping threshold,
 * which it then maps and unmaps at every message. */
static int
collector_grow(PayloadCollector *self, Py_ssize_t needed)
{
    if (self->bytes == NULL) {
        self->bytes = PyBytes_FromStringAndSize(NULL, needed);
        if (self->bytes == NULL) {
            return -1;
        }
    }
    else if (_PyBytes_Resize(&self->bytes, needed) < 0) {
        /* self->bytes is NULL now: the collected bytes are lost, and so is this
         * collector's payload (the caller fails with MemoryError). */
        self->size = 0;
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(collector_append_doc,
"append(data, mask, /)\n"
"\n"
"Add the next piece of the payload: data as it is if mask is None, else unmasked\n"
"with the 4-byte mask, from the key octet where the payload collected so far ends.");

static PyObject *
collector_append(PayloadCollector *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer data, mask;
    unsigned char key[4], rotated[4];
    unsigned char *out;
    int masked = 0, i, shift;

    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError,
                     "append() takes exactly 2 arguments (%zd given)", nargs);
        return NULL;
    }
    if (collector_check_idle(self) < 0) {
        return NULL;
    }
    if (args[1] != Py_None) {
        if (PyObject_GetBuffer(args[1], &mask, PyBUF_SIMPLE) < 0) {
            return NULL;
        }
        if (mask.len != 4) {
            PyBuffer_Release(&mask);
            PyErr_SetString(PyExc_ValueError, "mask must contain 4 bytes");
            return NULL;
        }
        memcpy(key, mask.buf, 4);
        PyBuffer_Release(&mask);
        masked = 1;
    }
    if (PyObject_GetBuffer(args[0], &data, PyBUF_SIMPLE) < 0) {
        PyObject *copy;
        int failed;

        if (!PyErr_ExceptionMatches(PyExc_BufferError)) {
            return NULL;
        }
        /* A non-contiguous buffer (e.g. a strided memoryview): gather it first. */
        PyErr_Clear();
        copy = PyBytes_FromObject(args[0]);
        if (copy == NULL) {
            return NULL;
        }
        failed = PyObject_GetBuffer(copy, &data, PyBUF_SIMPLE) < 0;
        Py_DECREF(copy);  /* the buffer export keeps it alive */
        if (failed) {
            return NULL;
        }
    }
    if (data.len > self->expected - self->size) {
        PyBuffer_Release(&data);
        PyErr_SetString(PyExc_ValueError, "more bytes than the payload's length");
        return NULL;
    }
    if (data.len == 0) {
        PyBuffer_Release(&data);
        Py_RETURN_NONE;
    }
    if (collector_grow(self, self->size + data.len) < 0) {
        PyBuffer_Release(&data);
        return NULL;
    }
    out = (unsigned char *)PyBytes_AS_STRING(self->bytes) + self->size;
    if (masked) {
        shift = (int)(self->size & 3);
        for (i = 0; i < 4; i++) {
            rotated[i] = key[(i + shift) & 3];
        }
    }
    if (data.len >= RELEASE_GIL_THRESHOLD) {
        self->busy = 1;
        Py_BEGIN_ALLOW_THREADS
        if (masked) {
            xor_mask((const unsigned char *)data.buf, out, data.len, rotated);
        }
        else {
            memcpy(out, data.buf, data.len);
        }
        Py_END_ALLOW_THREADS
        self->busy = 0;
    }
    else if (masked) {
        xor_mask((const unsigned char *)data.buf, out, data.len, rotated);
    }
    else {
        memcpy(out, data.buf, data.len);
    }
    self->size += data.len;
    PyBuffer_Release(&data);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(collector_peek_doc,
"peek(start, /) -> bytes\n"
"\n"
"The bytes collected from offset start on (empty if start is past them).");

static PyObject *
collector_peek(PayloadCollector *self, PyObject *arg)
{
    Py_ssize_t start = PyNumber_AsSsize_t(arg, PyExc_OverflowError);

    if (start == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (collector_check_idle(self) < 0) {
        return NULL;
    }
    if (start < 0) {
        PyErr_SetString(PyExc_ValueError, "start must be >= 0");
        return NULL;
    }
    if (start >= self->size) {
        return PyBytes_FromStringAndSize(NULL, 0);
    }
    return PyBytes_FromStringAndSize(PyBytes_AS_STRING(self->bytes) + start,
                                     self->size - start);
}

PyDoc_STRVAR(collector_finish_doc,
"finish() -> bytes\n"
"\n"
"The bytes collected, as one bytes object; the collector is empty again.");

static PyObject *
collector_finish(PayloadCollector *self, PyObject *Py_UNUSED(ignored))
{
    PyObject *result;

    if (collector_check_idle(self) < 0) {
        return NULL;
    }
    if (self->bytes == NULL) {
        return PyBytes_FromStringAndSize(NULL, 0);
    }
    result = self->bytes;
    self->bytes = NULL;
    self->size = 0;
    return result;
}

static PyObject *
collector_get_size(PayloadCollector *self, void *Py_UNUSED(closure))
{
    return PyLong_FromSsize_t(self->size);
}

static PyObject *
collector_get_expected(PayloadCollector *self, void *Py_UNUSED(closure))
{
    return PyLong_FromSsize_t(self->expected);
}

static PyMethodDef collector_methods[] = {
    {"append", (PyCFunction)(void (*)(void))collector_append, METH_FASTCALL,
     collector_append_doc},
    {"peek", (PyCFunction)collector_peek, METH_O, collector_peek_doc},
    {"finish", (PyCFunction)collector_finish, METH_NOARGS, collector_finish_doc},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef collector_getset[] = {
    {"size", (getter)collector_get_size, NULL, "Bytes collected so far.", NULL},
    {"expected", (getter)collector_get_expected, NULL, "The payload's length.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyDoc_STRVAR(collector_doc,
"PayloadCollector(expected)\n"
"\n"
"Collect a payload of `expected` bytes piece by piece into one bytes object\n"
"(see masking.PayloadCollectorPython, the reference).");

static PyType_Slot collector_slots[] = {
    {Py_tp_doc, (void *)collector_doc},
    {Py_tp_init, (void *)collector_init},
    {Py_tp_new, (void *)PyType_GenericNew},
    {Py_tp_dealloc, (void *)collector_dealloc},
    {Py_tp_methods, collector_methods},
    {Py_tp_getset, collector_getset},
    {0, NULL},
};

static PyType_Spec collector_spec = {
    "websocket_ref._speedups.PayloadCollector",
    sizeof(PayloadCollector),
    0,
    Py_TPFLAGS_DEFAULT,
    collector_slots,
};

static int
speedups_exec(PyObject *module)
{
    PyObject *type = PyType_FromModuleAndSpec(module, &collector_spec, NULL);

    if (type == NULL) {
        return -1;
    }
    if (PyModule_AddObject(module, "PayloadCollector", type) < 0) {
        Py_DECREF(type);
        return -1;
    }
    return 0;
}

static PyMethodDef speedups_methods[] = {
    {"apply_mask", (PyCFunction)(void (*)(void))apply_mask, METH_FASTCALL,
     apply_mask_doc},
#ifdef HAVE_SOCKET_CALLS
    {"socket_recv", (PyCFunction)(void (*)(void))socket_recv, METH_FASTCALL,
     socket_recv_doc},
    {"socket_send", (PyCFunction)(void (*)(void))socket_send, METH_FASTCALL,
     socket_send_doc},
#endif
    {NULL, NULL, 0, NULL},
};

static PyModuleDef_Slot speedups_slots[] = {
    {Py_mod_exec, (void *)speedups_exec},
#ifdef Py_mod_multiple_interpreters
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
#ifdef Py_mod_gil
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
#endif
    {0, NULL},
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT,
    "websocket_ref._speedups",
    "C accelerator for websocket_ref's hot path (masking, socket calls, large payloads).",
    0,
    speedups_methods,
    speedups_slots,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModuleDef_Init(&speedups_module);
}
