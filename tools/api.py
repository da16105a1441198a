#!/usr/bin/env python3
"""One description of melora's API, read from the headers themselves.

    tools/api.py gen      write python/melora/_api.py (the ctypes binding) from melora.h
    tools/api.py readme   print the README's API tables (structs and signatures, from melora.h)
    tools/api.py check    exit 1 unless _api.py, melora_cuda.h, the README tables and
                          tests/api_calls.h all agree with melora.h
    tools/api.py selftest plant one mistake at a time in copies of the tree: each must fail
    tools/api.py dump     print what the parser read (for debugging the parser)

Standard library only: the headers are plain enough (no function pointers, no nested
structs) that a scanner at brace depth 0 reads them, and a parser of our own keeps the
check runnable on any python3, without torch or pycparser.
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEADER = "melora.h"
CUDA_HEADER = "melora_cuda.h"
API_PY = os.path.join("python", "melora", "_api.py")
README = "README.md"
CALLS = os.path.join("tests", "api_calls.h")

# ---- parsing ---------------------------------------------------------------------------


def strip_comments(text):
    """Comments out, string literals kept; newlines inside comments kept for line numbers."""
    out, i, n = [], 0, len(text)
    while i < n:
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("\n" * text.count("\n", i, j) or " ")
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text[i] == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def public_part(text, guard):
    """The text between `#define <guard>` and `#endif /* <guard> */`."""
    m = re.search(r"^#define %s\s*$" % guard, text, re.M)
    e = re.search(r"^#endif /\* %s \*/" % guard, text, re.M)
    if not m or not e:
        raise SystemExit("api.py: cannot find the %s header guard" % guard)
    return text[m.end():e.start()]


def logical_lines(text):
    """Lines with backslash continuations joined."""
    return text.replace("\\\n", " ").split("\n")


def split_code(lines):
    """(defines, code): integer #defines as (name, value); the code outside preprocessor
    lines, without the `extern "C"` brackets of #ifdef __cplusplus blocks. Every other
    conditional is read as if true (the public parts hold no alternatives)."""
    defines, code, stack = [], [], []
    for line in lines:
        s = line.strip()
        if s.startswith("#"):
            d = re.match(r"#\s*(\w+)\s*(.*)", s)
            kw, rest = d.group(1), d.group(2).strip()
            if kw in ("if", "ifdef", "ifndef"):
                stack.append((kw, rest))
            elif kw == "endif":
                stack.pop()
            elif kw in ("else", "elif"):
                stack[-1] = (kw, stack[-1][1])
            elif kw == "define" and not any(r == "__cplusplus" for _, r in stack):
                m = re.match(r"(MELORA_[A-Z0-9][A-Z0-9_]*)\s+\(?\s*(-?\d+)[uUlL]*\s*\)?$", rest)
                if m and not m.group(1).startswith("MELORA__"):
                    defines.append((m.group(1), int(m.group(2))))
            code.append("")
            continue
        if any(r == "__cplusplus" for _, r in stack):
            code.append("")
            continue
        code.append(line)
    return defines, "\n".join(code)


def statements(code):
    """Top-level statements: declarations ending in `;`, and function definitions (which
    end at their closing brace and are returned with a leading `{def}` marker)."""
    out, cur, depth = [], [], 0
    for ch in code:
        cur.append(ch)
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                head = "".join(cur).strip()
                if not re.match(r"(typedef|enum|struct)\b", head):
                    out.append("{def}" + head)
                    cur = []
        elif ch == ";" and depth == 0:
            out.append("".join(cur).strip()[:-1].strip())
            cur = []
    return [" ".join(s.split()) for s in out if s.strip()]


def norm_type(t):
    """'const float  *' -> 'const float *'; 'void * *' -> 'void **'."""
    t = " ".join(t.replace("*", " * ").split())
    base = " ".join(w for w in t.split() if w != "*")
    stars = t.count("*")
    return base + (" " + "*" * stars if stars else "")


def split_decl(decl):
    """'const float *x' -> ('const float *', 'x')."""
    m = re.match(r"(.*?)(\w+)\s*$", decl.strip())
    if not m or not m.group(1).strip():
        raise ValueError("cannot read the declaration %r" % decl)
    return norm_type(m.group(1)), m.group(2)


def eval_enum(expr, known):
    if not re.match(r"^[\w\s|+\-()<>]*$", expr):
        raise ValueError("enum value %r is not an integer expression" % expr)
    expr = re.sub(r"(\d+)[uUlL]+", r"\1", expr)
    return int(eval(expr, {"__builtins__": {}}, dict(known)))


class Api:
    """What a header declares: functions [(name, ret, [(type, name)])], structs
    [(name, [(type, field)])], enums [(typedef name or None, [(const, value)])], integer
    defines [(name, value)]."""

    def __init__(self, path, guard, need_def):
        with open(path) as f:
            text = f.read()
        self.path = path
        self.public = strip_comments(public_part(text, guard))
        defines, code = split_code(logical_lines(self.public))
        self.defines = defines
        self.functions, self.structs, self.enums = [], [], []
        for st in statements(code):
            if st.startswith("{def}"):
                continue  # static inline helpers: not part of the linked API
            if st.startswith("typedef struct"):
                self._struct(st)
            elif re.match(r"(typedef )?enum\b", st):
                self._enum(st)
            elif "(" in st:
                self._function(st, need_def)

    def _struct(self, st):
        m = re.match(r"typedef struct\s*\w*\s*\{(.*)\}\s*(\w+)$", st)
        if not m:
            raise ValueError("%s: cannot read the struct %r" % (self.path, st[:60]))
        name, fields = m.group(2), []
        if name.startswith("melora__"):
            return  # private (shared with melora_cuda.cu): neither API nor README
        for decl in m.group(1).split(";"):
            if not decl.strip():
                continue
            first = decl.split(",")
            base, name0 = split_decl(first[0])
            base_noptr = base.rstrip("* ").strip()
            fields.append((base, name0))
            for more in first[1:]:
                stars = more.count("*")
                fields.append((norm_type(base_noptr + " " + "*" * stars), more.replace("*", "").strip()))
        self.structs.append((name, fields))

    def _enum(self, st):
        m = re.match(r"(?:typedef )?enum\s*\w*\s*\{(.*)\}\s*(\w*)$", st)
        if not m:
            raise ValueError("%s: cannot read the enum %r" % (self.path, st[:60]))
        consts, value, known = [], -1, {}
        for c in m.group(1).split(","):
            c = c.strip()
            if not c:
                continue
            if "=" in c:
                cname, expr = (x.strip() for x in c.split("=", 1))
                value = eval_enum(expr, dict(known, **{k: v for k, v in self.all_consts()}))
            else:
                cname, value = c, value + 1
            known[cname] = value
            consts.append((cname, value))
        if all(c.startswith("MELORA__") for c, _ in consts):
            return  # private (shared with melora_cuda.cu): not bound in Python
        self.enums.append((m.group(2) or None, consts))

    def _function(self, st, need_def):
        has_def = st.startswith("MELORA_DEF ")
        if need_def and not has_def:
            return
        st = st[len("MELORA_DEF "):] if has_def else st
        m = re.match(r"(.*?)\b(\w+)\s*\((.*)\)$", st)
        if not m or m.group(1).strip().startswith(("static", "typedef")):
            return
        ret = norm_type(m.group(1))
        params = []
        args = m.group(3).strip()
        if args and args != "void":
            params = [split_decl(a) for a in args.split(",")]
        self.functions.append((m.group(2), ret, params))

    def all_consts(self):
        return [c for _, cs in self.enums for c in cs]

    def enum_types(self):
        return [n for n, _ in self.enums if n]

    def struct_names(self):
        return [n for n, _ in self.structs]

    def function(self, name):
        for f in self.functions:
            if f[0] == name:
                return f
        return None


def load():
    return Api(os.path.join(ROOT, HEADER), "MELORA_H", True)


def load_cuda(path=None):
    return Api(path or os.path.join(ROOT, CUDA_HEADER), "MELORA_CUDA_H", False)


# ---- the ctypes binding ----------------------------------------------------------------

SCALARS = {
    "int": "c_int", "unsigned": "c_uint", "unsigned int": "c_uint", "float": "c_float",
    "double": "c_double", "size_t": "c_size_t", "int64_t": "c_int64", "uint64_t": "c_uint64",
    "uint32_t": "c_uint32",
}


def field_ctype(api, t):
    if t == "const char *":
        return "ctypes.c_char_p"
    if t.endswith("*"):
        return "ctypes.c_void_p"
    if t in SCALARS:
        return "ctypes." + SCALARS[t]
    if t in api.enum_types():
        return "ctypes.c_int"
    raise ValueError("no ctypes type for the field type %r" % t)


def ret_ctype(t):
    r = {"melora_status": "ctypes.c_int", "const char *": "ctypes.c_char_p", "void": "None"}
    if t not in r:
        raise ValueError("no ctypes type for the return type %r" % t)
    return r[t]


def arg_ctype(api, t):
    base = t.replace("const ", "").strip()
    if base in ("float *", "void *"):
        return "ctypes.c_void_p"
    if base == "void **":
        return "ctypes.POINTER(ctypes.c_void_p)"
    if base.endswith(" *") and base[:-2] in api.struct_names():
        return "ctypes.POINTER(%s)" % base[:-2]
    if base in api.struct_names():
        return base
    if base.endswith(" *") and base[:-2] in SCALARS:
        return "ctypes.POINTER(ctypes.%s)" % SCALARS[base[:-2]]
    if base in api.enum_types():
        return "ctypes.c_int"
    if base in SCALARS:
        return "ctypes." + SCALARS[base]
    raise ValueError("no ctypes type for the argument type %r" % t)


def gen_text(api):
    L = ["# Generated by tools/api.py from melora.h: do not edit.", "import ctypes", ""]
    # header order: the version defines come first, then each enum, then the later defines
    consts = []
    for name, value in api.defines:
        consts.append((api.public.find("#define %s " % name), name, value))
    for _, cs in api.enums:
        for name, value in cs:  # comments are out: the first mention is the definition
            consts.append((re.search(r"\b%s\b" % name, api.public).start(), name, value))
    for _, name, value in sorted(consts):
        L.append("%s = %d" % (name[len("MELORA_"):], value))
    L.append("")
    status = [cs for n, cs in api.enums if n == "melora_status"][0]
    L.append("STATUS_NAMES = {")
    L += ["    %d: \"%s\"," % (v, n) for n, v in status]
    L.append("}")
    for name, fields in api.structs:
        L += ["", "", "class %s(ctypes.Structure):" % name, "    _fields_ = ["]
        L += ["        (\"%s\", %s)," % (f, field_ctype(api, t)) for t, f in fields]
        L.append("    ]")
    L += ["", "", "SIGNATURES = {"]
    for name, ret, params in api.functions:
        args = ", ".join(arg_ctype(api, t) for t, _ in params)
        L.append("    \"%s\": (%s, [%s])," % (name, ret_ctype(ret), args))
    L += ["}", "", "ARGNAMES = {"]
    for name, _, params in api.functions:
        L.append("    \"%s\": [%s]," % (name, ", ".join("\"%s\"" % p for _, p in params)))
    L += ["}", "", "",
          "def declare(lib):",
          "    \"\"\"Set restype and argtypes of every function of melora.h on the CDLL lib.\"\"\"",
          "    for name, (restype, argtypes) in SIGNATURES.items():",
          "        fn = getattr(lib, name)",
          "        fn.restype = restype",
          "        fn.argtypes = argtypes",
          ""]
    return "\n".join(L)


def cmd_gen(api):
    path = os.path.join(ROOT, API_PY)
    with open(path, "w") as f:
        f.write(gen_text(api))
    print("api.py: wrote %s (%d functions, %d structs)" % (API_PY, len(api.functions), len(api.structs)))
    return 0


def cmd_dump(api):
    for name, value in api.defines:
        print("define", name, value)
    for name, cs in api.enums:
        print("enum", name, cs)
    for name, fields in api.structs:
        print("struct", name, fields)
    for name, ret, params in api.functions:
        print("fn", ret, name, params)
    return 0


# ---- the CUDA mirror ---------------------------------------------------------------------

# Public functions that are not compute functions: no CUDA twin, and the bad-input table
# need not call them (they take no tensors, or are tested on their own).
NOT_COMPUTE = {
    "melora_status_string": "a host string table",
    "melora_alloc": "host allocation",
    "melora_free": "host allocation",
    "melora_count_params": "counting",
    "melora_count_model_params": "counting",
    "melora_dtype_size": "counting",
    "melora_preset": "presets",
    "melora_model_shape": "presets",
    "melora_count_base_params": "counting",
    "melora_count_train_memory": "counting",
    "melora_count_train_memory_mixed": "counting",
}
# Compute functions without a CUDA twin.
NO_CUDA_TWIN = {
    "melora_draw_offset": "a pure function of the draw, the same on host and device; "
                          "the CUDA noise functions take the draw",
}
# The allowed differences of a twin's parameters from the CPU ones, before the optional
# trailing handle and stream: (CPU function, parameter to insert, after which CPU one).
STATUS = ("int *", "status")
WORK = ("melora_work", "work")
CUDA_INSERT = {
    # the value and its status stay on the device, so a step can be graph-captured
    "melora_blob_kl": [(STATUS, "kl"), (WORK, "g")],
    "melora_melora_kl": [(STATUS, "kl")],
    "melora_melora_kl_prior_noise": [(STATUS, "kl")],
    # device reductions need scratch where the CPU sums in registers
    "melora_melora_kl_exact": [(STATUS, "kl"), (WORK, "g")],
}
# CUDA entry points with no CPU twin; a value names the twin whose parameters they repeat.
CUDA_ONLY = {
    "melora_cuda_last_error": None,
    "melora_cuda_profile_start": None,
    "melora_cuda_profile_stop": None,
    "melora_cuda_melora_kl_naive": "melora_cuda_melora_kl",
    "melora_cuda_workspace_size_naive": "melora_cuda_workspace_size",
}
TAIL = [("cublasHandle_t", "handle"), ("cudaStream_t", "stream")]
MAX_PARAMS = 10


def cuda_expected(api, fn):
    """The parameter lists a twin of CPU function fn may have (before handle, stream)."""
    name, _, params = fn
    out = list(params)
    for ins, after in CUDA_INSERT.get(name, []):
        k = [p for _, p in out].index(after)
        out.insert(k + 1, ins)
    ok = [out]
    if name.endswith("_naive"):  # may take the workspace where the fast twin does
        fast = api.function(name[:-len("_naive")])
        if fast:
            ok.append(cuda_expected(api, fast)[0])
    return ok


def cuda_core(params):
    """The parameters without the trailing handle and stream (either may be absent)."""
    core = list(params)
    for t in reversed(TAIL):
        if core and core[-1] == t:
            core.pop()
    return core


def fmt_params(params):
    return ", ".join(("%s%s" % (t, n) if t.endswith("*") else "%s %s" % (t, n)) for t, n in params) or "void"


def compute_functions(api):
    return [f for f in api.functions if f[0] not in NOT_COMPUTE]


def check_cuda(api, cuda, label):
    errs = []
    cpu_names = set(f[0] for f in api.functions)
    for name in list(NOT_COMPUTE) + list(NO_CUDA_TWIN):
        if name not in cpu_names:
            errs.append("api.py lists %s, which melora.h does not declare" % name)
    for fn in compute_functions(api):
        name = fn[0]
        twin = cuda.function("melora_cuda_" + name[len("melora_"):])
        if name in NO_CUDA_TWIN:
            if twin:
                errs.append("%s: %s has a CUDA twin now; take it off NO_CUDA_TWIN" % (label, name))
            continue
        if not twin:
            errs.append("%s: no melora_cuda_%s (twin of %s)" % (label, name[len("melora_"):], name))
            continue
        core = cuda_core(twin[2])
        if core not in cuda_expected(api, fn):
            errs.append("%s: %s(%s)\n    expected (%s)[, cublasHandle_t handle][, cudaStream_t stream]"
                        % (label, twin[0], fmt_params(twin[2]),
                           fmt_params(cuda_expected(api, fn)[0])))
        if twin[1] != fn[1]:
            errs.append("%s: %s returns %s, %s returns %s" % (label, twin[0], twin[1], name, fn[1]))
    twins = set("melora_cuda_" + f[0][len("melora_"):] for f in compute_functions(api))
    for name, _, params in cuda.functions:
        if name in twins:
            continue
        if name not in CUDA_ONLY:
            errs.append("%s: %s has no CPU twin in melora.h and is not in api.py's CUDA_ONLY" % (label, name))
        elif CUDA_ONLY[name]:
            ref = cuda.function(CUDA_ONLY[name])
            if not ref or cuda_core(ref[2]) != cuda_core(params):
                errs.append("%s: %s should take the parameters of %s" % (label, name, CUDA_ONLY[name]))
    for name in CUDA_ONLY:
        if not cuda.function(name):
            errs.append("%s: api.py's CUDA_ONLY lists %s, which it does not declare" % (label, name))
    return errs


def check_param_counts(api, cuda, flagged=()):
    """Errors for calls past MAX_PARAMS (CUDA: before handle and stream; not repeated for
    twins already reported), and the largest count as (count, function)."""
    errs, most = [], []
    for f in api.functions:
        most.append((len(f[2]), f[0]))
        if len(f[2]) > MAX_PARAMS:
            errs.append("melora.h: %s takes %d parameters (at most %d)" % (f[0], len(f[2]), MAX_PARAMS))
    if cuda:
        for f in cuda.functions:
            k = len(cuda_core(f[2]))
            most.append((k, f[0]))
            if k > MAX_PARAMS and f[0] not in flagged:
                errs.append("melora_cuda.h: %s takes %d parameters before handle and stream (at most %d)"
                            % (f[0], k, MAX_PARAMS))
    return errs, max(most)


# ---- the README's tables -------------------------------------------------------------------

TABLE_BEGIN = "<!-- api-table: generated by tools/api.py readme from melora.h; tools/api.py check compares -->"
TABLE_END = "<!-- api-table end -->"


def sections(api):
    """Each function's section: the title of the last banner comment before it in melora.h
    (its text up to a colon), or "Errors" before the first banner."""
    text = open(api.path).read()
    banners = [(m.start(), re.split(r"[:(]", m.group(1).strip())[0].strip())
               for m in re.finditer(r"/\* -{20,}\n\s*(.*?)\n", text)]
    out = {}
    for name, _, _ in api.functions:
        at = re.search(r"^MELORA_DEF [^;]*?\b%s\(" % name, text, re.M).start()
        titles = [t for p, t in banners if p < at]
        out[name] = titles[-1] if titles else "Errors"
    return out


def readme_text(api):
    sec = sections(api)
    L = [TABLE_BEGIN, "", "| struct | fields | taken by |", "|---|---|---|"]
    for name, fields in api.structs:
        users = [f[0] for f in api.functions
                 if any(t.replace("const ", "").rstrip(" *") == name for t, _ in f[2])]
        L.append("| `%s` | `%s` | %s |" % (name, "; ".join(fmt_params([f]) for f in fields),
                                             ", ".join("`%s`" % u for u in users)))
    L += ["", "| part | function | parameters |", "|---|---|---|"]
    for name, ret, params in api.functions:
        shown = "`%s`" % name if ret == "melora_status" else "`%s` → `%s`" % (name, ret)
        L.append("| %s | %s | `%s` |" % (sec[name], shown, fmt_params(params)))
    L += ["", TABLE_END]
    return "\n".join(L) + "\n"


def cmd_readme(api):
    sys.stdout.write(readme_text(api))
    return 0


def readme_block(text):
    b, e = text.find(TABLE_BEGIN), text.find(TABLE_END)
    if b < 0 or e < b:
        return None
    return text[b:e + len(TABLE_END)] + "\n"


def calls_missing(api, text):
    return [f[0] for f in compute_functions(api) if not re.search(r"\b%s\s*\(" % f[0], text)]


def check_tree(root, cuda_path):
    """Every disagreement of the files under root (and cuda_path) with root/melora.h, and
    the largest parameter count as (count, function)."""
    api = Api(os.path.join(root, HEADER), "MELORA_H", True)
    errs = []
    try:
        have = open(os.path.join(root, API_PY)).read()
    except OSError:
        have = ""
    if have != gen_text(api):
        errs.append("%s is not what `tools/api.py gen` writes from melora.h: run it" % API_PY)
    label = os.path.relpath(cuda_path, root)
    label = cuda_path if label.startswith("..") else label
    try:
        cuda = load_cuda(cuda_path)
    except (OSError, ValueError, SystemExit) as e:
        cuda = None
        errs.append("%s: cannot read it (%s)" % (label, e))
    if cuda:
        errs += check_cuda(api, cuda, label)
    try:
        block = readme_block(open(os.path.join(root, README)).read())
    except OSError:
        block = None
    if block is None:
        errs.append("README.md has no API table between the api-table markers")
    elif block != readme_text(api):
        errs.append("README.md's API table is not what `tools/api.py readme` prints: paste its output")
    try:
        missing = calls_missing(api, strip_comments(open(os.path.join(root, CALLS)).read()))
    except OSError:
        missing = ["(no %s)" % CALLS]
    if missing:
        errs.append("%s calls no %s" % (CALLS, ", ".join(missing)))
    flagged = set(re.findall(r"\b(melora_cuda_\w+)\(", "\n".join(errs)))
    perrs, most = check_param_counts(api, cuda, flagged)
    return errs + perrs, most, len(api.functions)


def cmd_check(*args):
    """check [--cuda FILE]: FILE in place of melora_cuda.h (e.g. `git show cuda:melora_cuda.h`)."""
    cuda_path = args[1] if len(args) > 1 and args[0] == "--cuda" else os.path.join(ROOT, CUDA_HEADER)
    errs, (k, who), nfn = check_tree(ROOT, cuda_path)
    for e in errs:
        print("api-check: ✗ " + e)
    print("api-check: most parameters: %d (%s; at most %d allowed)" % (k, who, MAX_PARAMS))
    if errs:
        return 1
    print("api-check: ✓ _api.py, melora_cuda.h, the README tables and tests/api_calls.h agree "
          "with melora.h (%d functions)" % nfn)
    return 0


# ---- the check's own test ------------------------------------------------------------------

def mirror_header(api):
    """A melora_cuda.h that mirrors melora.h as the rules say, written from melora.h's text
    (not from cuda_expected): each prototype renamed with `, cudaStream_t stream` appended,
    the KLs' and _naive references' differences spelt out by hand."""
    text = strip_comments(public_part(open(api.path).read(), "MELORA_H"))
    protos = dict((m.group(2), " ".join(m.group(0).split()))
                  for m in re.finditer(r"^MELORA_DEF ([^;(]*?\b)(melora_\w+)\(([^;]*)\);", text, re.M | re.S))
    by_hand = {
        "melora_blob_kl": "double *kl, int *status, const melora_blob_grads *g, melora_work work, "
                          "const melora_blob_params *p, float sigma_p, float weight, int r, int n",
        "melora_melora_kl": "double *kl, int *status, const melora_melora_grads *g, melora_work work, "
                            "const melora_melora_params *p, float sigma, float weight, int r, int n",
        "melora_melora_kl_prior_noise": "double *kl, int *status, const melora_melora_grads *g, "
                                        "melora_work work, const melora_melora_params *p, "
                                        "float sigma_p, float eps, float weight, int r, int n",
        "melora_melora_kl_exact": "double *kl, int *status, const melora_melora_grads *g, "
                                  "melora_work work, const melora_melora_params *p, float sigma, "
                                  "float weight, int r",
    }
    out = ["#define MELORA_CUDA_H", "const char *melora_cuda_last_error(void);",
           "melora_status melora_cuda_profile_start(cudaStream_t stream);",
           "int melora_cuda_profile_stop(const char **name, double *bytes, float *ms, int cap);",
           "melora_status melora_cuda_workspace_size_naive(size_t *bytes, melora_op op, melora_dims d);",
           "melora_status melora_cuda_melora_kl_naive(%s, cudaStream_t stream);" % by_hand["melora_melora_kl"]]
    for name, proto in protos.items():
        if name in NOT_COMPUTE or name in NO_CUDA_TWIN:
            continue
        cname = "melora_cuda_" + name[len("melora_"):]
        args = by_hand.get(name) or re.search(r"\((.*)\)", proto).group(1)
        ret = proto[len("MELORA_DEF "):proto.index(name)].strip()
        out.append("%s %s(%s, cudaStream_t stream);" % (ret, cname, args))
    out.append("#endif /* MELORA_CUDA_H */")
    return "\n".join(out) + "\n"


def cmd_selftest(*args):
    """Runs the check on copies of the tree, each with one planted mistake, and fails
    unless every mistake adds an error that names it. The base copy has a melora_cuda.h
    written by mirror_header and a tests/api_calls.h that calls everything, so the only
    errors it may have are those of melora.h itself (the parameter count)."""
    import shutil
    import tempfile
    api = load()
    tmp = tempfile.mkdtemp(prefix="api-selftest.")
    fails = []

    def tree(name, edit=None):
        root = os.path.join(tmp, name)
        for rel in (HEADER, README, API_PY, CALLS):
            os.makedirs(os.path.dirname(os.path.join(root, rel)) or root, exist_ok=True)
        shutil.copy(os.path.join(ROOT, HEADER), os.path.join(root, HEADER))
        readme = open(os.path.join(ROOT, README)).read()
        b = readme_block(readme)
        with open(os.path.join(root, README), "w") as f:
            f.write(readme.replace(b, readme_text(api)) if b else readme_text(api))
        with open(os.path.join(root, API_PY), "w") as f:
            f.write(gen_text(api))
        with open(os.path.join(root, CALLS), "w") as f:
            f.write("".join("    (void)%s(0);\n" % fn[0] for fn in compute_functions(api)))
        with open(os.path.join(root, CUDA_HEADER), "w") as f:
            f.write(mirror_header(api))
        if edit:
            path, old, new = edit
            full = os.path.join(root, path)
            text = open(full).read()
            if old not in text:
                fails.append("%s: the text to plant the mistake in is gone: %r" % (name, old))
            with open(full, "w") as f:
                f.write(text.replace(old, new, 1))
        return check_tree(root, os.path.join(root, CUDA_HEADER))[0]

    base = tree("base")
    for e in base:
        if "parameters (at most" not in e or "melora.h:" not in e:
            fails.append("base: the correct copy fails: " + e)
    cases = [
        ("stale-binding", (API_PY, "ERR_WORKSPACE = -13", "ERR_WORKSPACE = -14"), "_api.py is not"),
        ("swapped", (CUDA_HEADER, "const melora_lora_saved *sv, melora_work work, const melora_lora_params *p",
                     "melora_work work, const melora_lora_saved *sv, const melora_lora_params *p"),
         "melora_cuda_lora_forward("),
        ("no-status", (CUDA_HEADER, "melora_cuda_blob_kl(double *kl, int *status,",
                       "melora_cuda_blob_kl(double *kl,"), "melora_cuda_blob_kl("),
        ("missing-twin", (CUDA_HEADER, "melora_cuda_melora_noise(", "melora_cuda_melora_noise_x("),
         "no melora_cuda_melora_noise "),
        ("stream-first", (CUDA_HEADER, "melora_cuda_noise_sign(float *out,",
                          "melora_cuda_noise_sign(cudaStream_t stream, float *out,"), "melora_cuda_noise_sign("),
        ("type", (CUDA_HEADER, "melora_cuda_melora_sample(float *C, const melora_melora_params *p",
                  "melora_cuda_melora_sample(float *C, melora_melora_params *p"), "melora_cuda_melora_sample("),
        ("readme", (README, "| `melora_dims` | `int T; int n; int m; int r; melora_dtype dtype` |",
                    "| `melora_dims` | `int T; int n; int r; int m; melora_dtype dtype` |"), "README.md's API table"),
        ("calls", (CALLS, "(void)melora_blob_kl(0);", ""), "calls no melora_blob_kl"),
        ("eleven", (HEADER, "float weight, int r);",
                    "float weight, int r, int a, int b, int c, int e, int f);"),
         "melora_melora_kl_exact takes 11 parameters"),
    ]
    cases.append(("extra", (CUDA_HEADER, "#endif /* MELORA_CUDA_H */",
                            "melora_status melora_cuda_lora_step(float *z);\n#endif /* MELORA_CUDA_H */"),
                  "melora_cuda_lora_step has no CPU twin"))
    for name, edit, want in cases:
        extra = [e for e in tree(name, edit) if e not in base]
        if not any(want in e for e in extra):
            fails.append("%s: the check did not report %r (new errors: %s)" % (name, want, extra or "none"))
    # allowed differences must pass: a _naive twin with the tuned call's work and a handle
    ok = ("naive-work", (CUDA_HEADER, "melora_cuda_lora_backward_naive(void *dx, const melora_lora_grads *g, "
                         "const melora_lora_saved *sv, const void *dz, const melora_lora_params *p, "
                         "melora_dims d, cudaStream_t stream)",
                         "melora_cuda_lora_backward_naive(void *dx, const melora_lora_grads *g, "
                         "const melora_lora_saved *sv, melora_work work, const void *dz, "
                         "const melora_lora_params *p, melora_dims d, cublasHandle_t handle, "
                         "cudaStream_t stream)"))
    extra = [e for e in tree(ok[0], ok[1]) if e not in base]
    if extra:
        fails.append("%s: an allowed difference is reported: %s" % (ok[0], extra))
    shutil.rmtree(tmp)
    for f in fails:
        print("api-check-selftest: ✗ " + f)
    if fails:
        return 1
    print("api-check-selftest: ✓ a correct copy and an allowed difference pass; each of %d "
          "planted mistakes is reported" % len(cases))
    return 0


def main(argv):
    cmds = {"gen": lambda: cmd_gen(load()), "dump": lambda: cmd_dump(load()),
            "readme": lambda: cmd_readme(load()), "check": cmd_check, "selftest": cmd_selftest}
    if len(argv) < 2 or argv[1] not in cmds:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    return cmds[argv[1]](*argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
