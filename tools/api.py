#!/usr/bin/env python3
"""One description of melora's API, read from the headers themselves.

    tools/api.py gen      write python/melora/_api.py (the ctypes binding) from melora.h
    tools/api.py readme   print the README's API table (signatures from melora.h)
    tools/api.py check    exit 1 unless _api.py, melora_cuda.h, the README table and
                          tests/api_calls.h all agree with melora.h
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
        if not name.startswith("melora__"):
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


def check_param_counts(api, cuda):
    errs, most = [], []
    for f in api.functions:
        most.append((len(f[2]), f[0]))
        if len(f[2]) > MAX_PARAMS:
            errs.append("melora.h: %s takes %d parameters (at most %d)" % (f[0], len(f[2]), MAX_PARAMS))
    if cuda:
        for f in cuda.functions:
            k = len(cuda_core(f[2]))
            most.append((k, f[0]))
            if k > MAX_PARAMS:
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


def cmd_check(api, *args):
    """check [--cuda FILE]: FILE in place of melora_cuda.h (e.g. from another branch)."""
    cuda_path = args[1] if len(args) > 1 and args[0] == "--cuda" else os.path.join(ROOT, CUDA_HEADER)
    errs = []
    try:
        have = open(os.path.join(ROOT, API_PY)).read()
    except OSError:
        have = ""
    if have != gen_text(api):
        errs.append("%s is not what `tools/api.py gen` writes from melora.h: run it" % API_PY)
    cuda = load_cuda(cuda_path)
    label = os.path.relpath(cuda_path, ROOT)
    errs += check_cuda(api, cuda, cuda_path if label.startswith("..") else label)
    block = readme_block(open(os.path.join(ROOT, README)).read())
    if block is None:
        errs.append("README.md has no API table between the api-table markers")
    elif block != readme_text(api):
        errs.append("README.md's API table is not what `tools/api.py readme` prints: paste its output")
    try:
        missing = calls_missing(api, open(os.path.join(ROOT, CALLS)).read())
    except OSError:
        missing = ["(no %s)" % CALLS]
    if missing:
        errs.append("%s calls no %s" % (CALLS, ", ".join(missing)))
    perrs, (k, who) = check_param_counts(api, cuda)
    errs += perrs
    for e in errs:
        print("api-check: ✗ " + e)
    if errs:
        return 1
    print("api-check: ✓ _api.py, melora_cuda.h, the README table and tests/api_calls.h agree "
          "with melora.h (%d functions; most parameters: %d, %s)" % (len(api.functions), k, who))
    return 0


def main(argv):
    cmds = {"gen": cmd_gen, "dump": cmd_dump}
    extra = globals().get("EXTRA_COMMANDS", {})
    cmds.update(extra)
    if len(argv) < 2 or argv[1] not in cmds:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    api = load()
    return cmds[argv[1]](api, *argv[2:])


EXTRA_COMMANDS = {"readme": cmd_readme, "check": cmd_check}

if __name__ == "__main__":
    sys.exit(main(sys.argv))
