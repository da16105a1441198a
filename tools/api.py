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
    lines, without the `extern "C"` brackets of #ifdef __cplusplus blocks. `cond` is the
    stack of the conditionals a line sits in, kept per line as a marker the scanner can
    see (a declaration inside #ifdef MELORA_CUDA_PROFILE is known as such)."""
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
        guard = [r for k, r in stack if k == "ifdef" and r.startswith("MELORA_CUDA_PROFILE")]
        code.append(("@cond(%s) " % guard[0] if guard else "") + line)
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
                if not re.match(r"(@cond\(\w+\)\s*)?(typedef|enum|struct)\b", head):
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
    """What a header declares: functions [(name, ret, [(type, name)], cond)], structs
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
            cond = None
            m = re.match(r"@cond\((\w+)\)\s*(.*)", st)
            if m:
                cond, st = m.group(1), m.group(2)
            if st.startswith("{def}"):
                continue  # static inline helpers: not part of the linked API
            if st.startswith("typedef struct"):
                self._struct(st)
            elif re.match(r"(typedef )?enum\b", st):
                self._enum(st)
            elif "(" in st:
                self._function(st, cond, need_def)

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

    def _function(self, st, cond, need_def):
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
        self.functions.append((m.group(2), ret, params, cond))

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
    for name, ret, params, _ in api.functions:
        args = ", ".join(arg_ctype(api, t) for t, _ in params)
        L.append("    \"%s\": (%s, [%s])," % (name, ret_ctype(ret), args))
    L += ["}", "", "ARGNAMES = {"]
    for name, _, params, _ in api.functions:
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
    for name, ret, params, cond in api.functions:
        print("fn", ret, name, params, cond or "")
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


EXTRA_COMMANDS = {}

if __name__ == "__main__":
    sys.exit(main(sys.argv))
