/* The RESP codec's loops that cost a Python step per element, in C:
 *
 * scan(buf, stack): where RESP replies end, the scanning loop of
 * dynotwist.proto.resp.ReplyFramer. It walks buf as ReplyFramer._scan does and returns
 * (replies, start, pos, skip):
 *   replies  the replies completed in buf, as bytes (the first one only its part in
 *            buf when the framer holds its beginning from earlier feeds);
 *   start    where the reply under way (not complete) begins in buf;
 *   pos      where scanning stopped: buf[pos:] is an incomplete line (or pos == len);
 *   skip     bytes of a blob body (and its CRLF) due after buf; pos is then len(buf).
 * ``stack`` (elements still due in each open aggregate) is updated in place.
 *
 * It accepts lengths only in their canonical form (an optional '-', then 1 to 18
 * digits) and aggregates nested at most MAX_DEPTH deep. On anything else (another
 * form of length, an unknown type byte, a deeper stack) it returns None and leaves
 * ``stack`` as it was: the pure-Python framer, the reference, then scans the same
 * bytes and decides. A real datastore never sends such bytes, so that path is rare.
 *
 * one_request(payload, max_bulk_len): dynotwist.proto.resp.one_request, the same
 * answers (the arguments of exactly one multibulk request, or None) by the same
 * rules, step for step.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#define MAX_DEPTH 64
#define BAIL (-1)

/* The offset of the first CRLF at or after pos, or -1. */
static Py_ssize_t find_crlf(const char *buf, Py_ssize_t pos, Py_ssize_t n)
{
    while (pos < n - 1) {
        const char *cr = memchr(buf + pos, '\r', (size_t)(n - 1 - pos));
        if (cr == NULL)
            return -1;
        pos = cr - buf;
        if (buf[pos + 1] == '\n')
            return pos;
        pos++;
    }
    return -1;
}

/* The canonical length in buf[from:to]; 0 if it is not canonical (then the caller
 * bails out), 1 with *value set if it is. */
static int read_length(const char *buf, Py_ssize_t from, Py_ssize_t to, long long *value)
{
    int negative = 0;
    long long v = 0;
    if (from < to && buf[from] == '-') {
        negative = 1;
        from++;
    }
    if (from >= to || to - from > 18)
        return 0;
    for (; from < to; from++) {
        unsigned char c = (unsigned char)buf[from] - '0';
        if (c > 9)
            return 0;
        v = v * 10 + c;
    }
    *value = negative ? -v : v;
    return 1;
}

typedef struct {
    long long due[MAX_DEPTH];
    int depth;
} Stack;

/* One element complete: close the aggregates it completes. True if a reply is. */
static int element_done(Stack *stack)
{
    while (stack->depth) {
        if (--stack->due[stack->depth - 1])
            return 0;
        stack->depth--;
    }
    return 1;
}

static int push(Stack *stack, long long count)
{
    if (stack->depth == MAX_DEPTH)
        return 0;
    stack->due[stack->depth++] = count;
    return 1;
}

static int add_reply(PyObject *replies, PyObject *buf_obj, const char *buf, Py_ssize_t n,
                     Py_ssize_t start, Py_ssize_t end)
{
    PyObject *reply;
    int failed;
    if (start == 0 && end == n) {
        reply = buf_obj; /* the whole buffer: no copy */
        Py_INCREF(reply);
    } else {
        reply = PyBytes_FromStringAndSize(buf + start, end - start);
        if (reply == NULL)
            return -1;
    }
    failed = PyList_Append(replies, reply);
    Py_DECREF(reply);
    return failed;
}

/* The scanning loop; returns 0, BAIL for bytes left to the pure framer, or -2 with a
 * Python exception set. */
static int scan_buffer(PyObject *buf_obj, Stack *stack, PyObject *replies,
                       Py_ssize_t *start_out, Py_ssize_t *pos_out, Py_ssize_t *skip_out)
{
    const char *buf = PyBytes_AS_STRING(buf_obj);
    Py_ssize_t n = PyBytes_GET_SIZE(buf_obj);
    Py_ssize_t pos = 0, start = 0, nl, end;
    long long size, count;

    *skip_out = 0;
    while (pos < n) {
        char kind = buf[pos];
        nl = find_crlf(buf, pos, n);
        if (nl < 0)
            break;
        switch (kind) {
        case '+': case '-': case ':': case '_': case '#': case ',': case '(':
            pos = nl + 2;
            break;
        case '$': case '!': case '=':
            if (!read_length(buf, pos + 1, nl, &size))
                return BAIL;
            if (size < 0) { /* RESP2 null bulk */
                pos = nl + 2;
                break;
            }
            end = nl + 4 + size;
            if (end > n) {
                *skip_out = end - n;
                *start_out = start;
                *pos_out = n;
                return 0;
            }
            pos = end;
            break;
        case '*': case '~': case '>': case '%':
            if (!read_length(buf, pos + 1, nl, &count))
                return BAIL;
            if (kind == '%')
                count *= 2;
            pos = nl + 2;
            /* a flat run of bulk strings, passed over while the bytes are all here */
            while (count > 0 && pos < n && buf[pos] == '$') {
                nl = find_crlf(buf, pos, n);
                if (nl < 0)
                    break;
                if (!read_length(buf, pos + 1, nl, &size))
                    return BAIL;
                end = size >= 0 ? nl + 4 + size : nl + 2;
                if (end > n)
                    break;
                pos = end;
                count--;
            }
            if (count > 0) {
                if (!push(stack, count))
                    return BAIL;
                continue;
            }
            break;
        case '|':
            if (!read_length(buf, pos + 1, nl, &count) || count < 0)
                return BAIL; /* the pure framer says what is wrong */
            if (!push(stack, count * 2 + 1))
                return BAIL;
            pos = nl + 2;
            continue;
        default:
            return BAIL;
        }
        if (element_done(stack)) {
            if (add_reply(replies, buf_obj, buf, n, start, pos) < 0)
                return -2;
            start = pos;
        }
    }
    *start_out = start;
    *pos_out = pos;
    return 0;
}

static PyObject *scan(PyObject *module, PyObject *args)
{
    PyObject *buf_obj, *stack_list, *replies, *item;
    Stack stack;
    Py_ssize_t i, depth, start = 0, pos = 0, skip = 0;
    int status;

    if (!PyArg_ParseTuple(args, "O!O!", &PyBytes_Type, &buf_obj, &PyList_Type, &stack_list))
        return NULL;
    depth = PyList_GET_SIZE(stack_list);
    if (depth > MAX_DEPTH)
        Py_RETURN_NONE;
    for (i = 0; i < depth; i++) {
        int overflow;
        stack.due[i] = PyLong_AsLongLongAndOverflow(PyList_GET_ITEM(stack_list, i), &overflow);
        if (overflow || stack.due[i] <= 0) {
            if (PyErr_Occurred())
                return NULL;
            Py_RETURN_NONE;
        }
    }
    stack.depth = (int)depth;
    replies = PyList_New(0);
    if (replies == NULL)
        return NULL;
    status = scan_buffer(buf_obj, &stack, replies, &start, &pos, &skip);
    if (status == -2) {
        Py_DECREF(replies);
        return NULL;
    }
    if (status == BAIL) {
        Py_DECREF(replies);
        Py_RETURN_NONE;
    }
    /* the stack as it is now, in place */
    if (PyList_SetSlice(stack_list, 0, depth, NULL) < 0)
        goto fail;
    for (i = 0; i < stack.depth; i++) {
        item = PyLong_FromLongLong(stack.due[i]);
        if (item == NULL || PyList_Append(stack_list, item) < 0) {
            Py_XDECREF(item);
            goto fail;
        }
        Py_DECREF(item);
    }
    return Py_BuildValue("(Nnnn)", replies, start, pos, skip);
fail:
    Py_DECREF(replies);
    return NULL;
}

/* A length field of one_request: 1 to 18 digits, no leading zero (but "0"); -1 if not. */
static long long request_length(const char *buf, Py_ssize_t from, Py_ssize_t to)
{
    long long v = 0;
    if (to - from < 1 || to - from > 18 || (buf[from] == '0' && to - from > 1))
        return -1;
    for (; from < to; from++) {
        unsigned char c = (unsigned char)buf[from] - '0';
        if (c > 9)
            return -1;
        v = v * 10 + c;
    }
    return v;
}

static PyObject *one_request(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"payload", "max_bulk_len", NULL};
    PyObject *payload, *out, *arg;
    long long max_bulk = 512LL * 1024 * 1024, count, size; /* resp.DEFAULT_MAX_BULK */
    const char *buf;
    Py_ssize_t n, pos, nl;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!|L", keywords, &PyBytes_Type, &payload,
                                     &max_bulk))
        return NULL;
    buf = PyBytes_AS_STRING(payload);
    n = PyBytes_GET_SIZE(payload);
    if (n < 1 || buf[0] != '*')
        Py_RETURN_NONE;
    nl = find_crlf(buf, 1, n);
    if (nl < 0 || (count = request_length(buf, 1, nl)) <= 0 || count > 2147483647LL)
        Py_RETURN_NONE;
    /* each argument takes 6 bytes at least ("$0\r\n" and two): a count the payload
     * cannot hold is refused before a list of that size is asked for */
    if (count > (n - nl - 2) / 6)
        Py_RETURN_NONE;
    out = PyList_New((Py_ssize_t)count);
    if (out == NULL)
        return NULL;
    pos = nl + 2;
    for (Py_ssize_t i = 0; i < count; i++) {
        if (pos >= n || buf[pos] != '$')
            goto none;
        nl = find_crlf(buf, pos, n);
        if (nl < 0 || (size = request_length(buf, pos + 1, nl)) < 0 || size > max_bulk
            || size > n - nl - 4)
            goto none;
        arg = PyBytes_FromStringAndSize(buf + nl + 2, (Py_ssize_t)size);
        if (arg == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, i, arg);
        pos = nl + 4 + (Py_ssize_t)size; /* the two bytes after a body: skipped unread */
    }
    if (pos == n)
        return out;
none:
    Py_DECREF(out);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"scan", scan, METH_VARARGS,
     "scan(buf, stack) -> (replies, start, pos, skip), or None"},
    {"one_request", (PyCFunction)(void (*)(void))one_request, METH_VARARGS | METH_KEYWORDS,
     "one_request(payload, max_bulk_len=512 MiB) -> the arguments of one request, or None"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_respscan",
    "The RESP codec's per-element loops in C (see dynotwist.proto.resp_compiled).", -1,
    methods,
};

PyMODINIT_FUNC PyInit__respscan(void)
{
    return PyModule_Create(&module);
}
