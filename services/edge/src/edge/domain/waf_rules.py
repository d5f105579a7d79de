"""The managed rule set: OWASP CRS 3.3 paranoia level 1 (930 LFI, 931 RFI, 932 RCE, 933 PHP,
934 Node, 941 XSS, 942 SQLi, 944 Java) re-expressed as readable Python regexes.

Each rule names the CRS rule it stands for, its severity (CRS anomaly scores: critical 5,
error 4, warning 3, notice 2), the transformation views it matches (see ``VIEWS``) and the parts
of the request it inspects. Where CRS at PL1 relies on libinjection (942100, 941100) or matches a
bare keyword that ordinary English also uses (``; update``, ``union ... select``, ``sleep (``),
the rules here ask for the syntax that makes it an attack: a literal after the boolean
operator, a column list after ``UNION SELECT``, ``SET`` after ``; UPDATE``, a shell-ish argument
after a command word that is also an English word. Weaker signals are warnings that only block
together with another one.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass

from edge.domain import waf_transforms as t

CRITICAL = 5
ERROR = 4
WARNING = 3
NOTICE = 2


class Target:
    """Where a rule looks (CRS variables), as bits: plain ints, since the scorer tests them for
    every value and rule (``enum.Flag`` arithmetic cost more than the regexes)."""

    ARG = 1
    """ARGS and ARGS_NAMES: query and body parameters, and the path's segments."""
    COOKIE = 2
    """REQUEST_COOKIES and their names."""
    PATH = 4
    """REQUEST_FILENAME: the whole decoded path."""
    UA_REFERER = 8
    """The User-Agent and Referer headers."""
    HEADER = 16
    """Every header value but Cookie (and Referer, which is a URL of another page)."""


ARGS = Target.ARG | Target.COOKIE
ARGS_AND_UA = ARGS | Target.UA_REFERER


def url_view(value: str) -> str:
    """The view every other one starts from: decoded (again, after the parser) and NUL-free."""
    return t.remove_nulls(t.url_decode_uni(value))


VIEWS: dict[str, Callable[[str], str]] = {
    "url": lambda u: u,
    "sql": lambda u: t.compress_whitespace(t.remove_comments(u)),
    "sql_spaced": lambda u: t.compress_whitespace(t.replace_comments(u)),
    "xss": lambda u: t.remove_nulls(t.css_decode(t.js_decode(t.html_entity_decode(u)))),
    "cmd": lambda u: t.compress_blanks(t.cmd_line(u)),
    "path": t.normalize_path,
}
"""Transformation chains by name, applied to a value's ``url_view``; each is computed at most
once per value and request."""


_SHELL_QUOTING_CHARS = re.compile(r"['\"\\^$]")


def gate_text(url: str) -> str:
    """A lower-cased text holding every substring that any view of ``url`` can contain, for the
    rules' gates: the views that rewrite text (comments, entities, shell quoting, backslashes)
    add their output, and only when the input has what they rewrite."""
    low = url.lower()
    parts = [low]
    if "/*" in low or "--" in low or "#" in low:
        parts.append(t.remove_comments(low))
    if "&" in low or "\\" in low:
        parts.append(VIEWS["xss"](url).lower())  # entity names are case-sensitive
    if _SHELL_QUOTING_CHARS.search(low):
        parts.append(t.cmd_line(url))  # so is $IFS
    if "\\" in low:
        parts.append(low.replace("\\", "/"))
    return "\n".join(parts) if len(parts) > 1 else low


@dataclass(frozen=True)
class ManagedRule:
    id: str
    description: str
    pattern: re.Pattern[str]
    score: int
    views: tuple[str, ...]
    targets: int
    """``Target`` bits."""
    gate: frozenset[str]
    """Substrings (lower case) of which a value's ``gate_text`` must hold one for the pattern
    to be tried at all: a cheap test that keeps most values away from most regexes."""


def _r(
    rule_id: str,
    description: str,
    pattern: str,
    *,
    score: int = CRITICAL,
    views: tuple[str, ...] = ("url",),
    targets: int = ARGS,
    gate: tuple[str, ...],
    flags: re.RegexFlag = re.IGNORECASE,
) -> ManagedRule:
    return ManagedRule(
        rule_id, description, re.compile(pattern, flags), score, views, targets, frozenset(gate)
    )


# -- vocabulary ---------------------------------------------------------------------------------

_BOOL = r"(?:\b(?:or|and|xor)\b|\|\||&&)"
_CMP = r"(?:<=>|<>|!=|==?|<=?|>=?|\b(?:like|rlike|is|regexp|between|sounds\s+like)\b)"
_LITERAL = r"(?:'[^']*'?|\"[^\"]*\"?|-?\d+(?:\.\d+)?|0x[0-9a-f]+|true|false|null)"
_COLUMNS = (
    r"(?:\d|null\b|\*|@@|['\"`(]|(?:concat|group_concat|char|version|user|database|schema"
    r"|load_file|current_user)\s*\(|[\w.]+\s*,|[\w.]+\s+from\b)"
)
_EVENTS = (
    r"on(?:load|error|click|dblclick|auxclick|contextmenu|mouse\w+|pointer\w+|focus\w*|blur"
    r"|toggle|key(?:up|down|press)|change|submit|input|invalid|reset|select|search|animation\w+"
    r"|transition\w+|begin|end|scroll\w*|wheel|drag\w*|drop|copy|cut|paste|show|resize|unload"
    r"|beforeunload|hashchange|message|play\w*|pause|ended|canplay\w*|loadstart|loadeddata"
    r"|progress|touch\w+|pageshow|popstate|readystatechange|afterprint|beforeprint|abort"
    r"|formdata|securitypolicyviolation|start|finish|bounce)"
)
# Unix and Windows commands nobody writes as an English word: after a shell separator they
# are an attack whatever follows.
_COMMANDS = (
    r"(?:whoami|uname|ifconfig|ipconfig|netstat|nc|ncat|netcat|socat|wget|curl|bash|sh|zsh|ksh"
    r"|csh|tcsh|dash|busybox|telnet|nslookup|chmod|chown|passwd|sudo|useradd|crontab|nohup"
    r"|xterm|python[23]?|perl|ruby|php|powershell|pwsh|cmd(?:\.exe)?|mkfifo|base64|xxd"
    r"|printenv|systemctl|rm|ls|id|pwd|ps|killall|pkill|tftp|scp|ssh|nmap|awk|sed|xargs|wmic"
    r"|certutil|bitsadmin|tasklist|taskkill|net\.exe|uptime|lsof|getent|dig|host|ping|env)"
)
# Commands that are English words too: only with a shell-ish argument or at the very end.
_WORD_COMMANDS = (
    r"(?:cat|echo|find|grep|head|tail|more|less|kill|sleep|touch|mkdir|cp|mv|tee|tar|dir|type"
    r"|set|export|eval|exec|source|time|wait|unset|sort)"
)
# A Markdown code fence (```) is not command substitution.
_SEPARATOR = r"(?:;|\|\|?|&&?|\n|\r|(?<!`)`(?!`)|\$\(\(?|[<>]\(|\(\s*\))"
_SHELL_ARG = r"(?:\s+(?:-{1,2}[a-z0-9]|/|~|\.{1,2}/|\$|[<>|&;`]|\d{1,3}\.\d|[a-z]+://)|\s+\d+\s*(?:$|[;&|)`])|\s*$|[<>|;&`)])"

RULES: tuple[ManagedRule, ...] = (
    # -- 930 local file inclusion ---------------------------------------------------------------
    _r(
        "930100",
        "Path traversal",
        r"(?:^|/)\.\.(?:;[^/]*)?(?:/|$)|\.{3,}/{2}",
        views=("path",),
        targets=ARGS | Target.PATH | Target.HEADER,
        gate=("..",),
    ),
    _r(
        "930120",
        "OS file access",
        r"etc/(?:passwd|shadow|group|hosts|sudoers|crontab|fstab|hostname|resolv\.conf"
        r"|master\.passwd|security/)|proc/(?:self|\d+)/(?:environ|cmdline|fd|maps|status|mem)"
        r"|(?:boot|win|system)\.ini\b|windows/system32|(?:^|/)\.(?:htaccess|htpasswd"
        r"|bash_history|bashrc|ssh/|aws/credentials|git/config|env\b)|\bid_(?:rsa|dsa|ecdsa"
        r"|ed25519)\b|wp-config\.php|web\.config\b|php\.ini\b|/root/\.",
        views=("path",),
        targets=ARGS | Target.PATH,
        gate=(
            "etc/",
            "proc/",
            ".ini",
            "system32",
            ".ht",
            ".bash",
            ".ssh",
            ".aws",
            ".git",
            ".env",
            "id_",
            "config",
            "/root/",
        ),
    ),
    _r(
        "930130",
        "Restricted file access",
        r"(?:^|/)(?:\.git|\.svn|\.hg|\.env|\.htaccess|\.htpasswd|\.ds_store|\.aws|\.ssh"
        r"|\.bash_history|web\.config|wp-config\.php|\.npmrc|\.dockercfg)(?:/|$)",
        views=("path",),
        targets=Target.PATH,
        gate=("/.", "config"),
    ),
    # -- 931/933 remote inclusion and stream wrappers -----------------------------------------
    _r(
        "931100",
        "Remote file inclusion: file or PHP stream wrapper",
        r"^\s*file://|\b(?:php|phar|zip|expect|glob|ssh2|rar|ogg|zlib|gopher|dict)://",
        gate=("://",),
    ),
    # -- 932 remote command execution -----------------------------------------------------------
    _r(
        "932100",
        "Unix command injection",
        rf"{_SEPARATOR}\s*(?:/?[\w.-]+/)*(?:{_COMMANDS}(?=[\s<>|;&`)]|$)"
        rf"|{_WORD_COMMANDS}{_SHELL_ARG})",
        views=("cmd",),
        gate=(";", "|", "&", "\n", "\r", "`", "("),
    ),
    _r(
        "932150",
        "Unix command at the start of a value",
        rf"^\s*(?:{_COMMANDS}|{_WORD_COMMANDS})\s+(?:-{{1,2}}[a-z]|/[a-z]|\$\{{?[a-z]|[a-z]+://)",
        views=("cmd",),
        gate=(" -", " /", " $", "://", "\n-", "\n/"),
    ),
    _r(
        "932160",
        "Unix shell path",
        r"(?:^|[^\w])/?(?:usr/)?s?bin/(?:ba|z|k|c|tc|da|r)?sh\b|/bin/(?:cat|nc|ncat|busybox|id"
        r"|ls|ps|uname|echo|wget|curl)\b|\$\{?ifs\b",
        views=("cmd", "url"),
        gate=("bin/", "ifs"),
    ),
    _r(
        "932110",
        "Windows command injection",
        r"(?:^|[;&|`])\s*(?:cmd(?:\.exe)?\s+/[ck]|powershell(?:\.exe)?\s+-|certutil(?:\.exe)?\s+-"
        r"|bitsadmin\s+/|net\s+(?:user|localgroup)\b|(?:type|dir)\s+[a-z]:\\)",
        gate=("cmd", "powershell", "certutil", "bitsadmin", "net ", "type ", "dir "),
    ),
    _r(
        "932170",
        "Shellshock",
        r"^\(\s*\)\s*\{",
        targets=ARGS | Target.HEADER | Target.UA_REFERER,
        gate=("(",),
    ),
    # -- 933/934/944 code injection ---------------------------------------------------------------
    _r(
        "933100",
        "PHP injection",
        r"<\?(?:php\b|=)|\b(?:shell_exec|passthru|proc_open|pcntl_exec|phpinfo|base64_decode"
        r"|gzinflate|str_rot13|call_user_func(?:_array)?|create_function|file_put_contents"
        r"|move_uploaded_file)\s*\(",
        gate=("<?", "("),
    ),
    _r(
        "934100",
        "Node.js / template injection",
        r"\brequire\s*\(\s*['\"`]child_process|\bchild_process\b|process\.mainmodule"
        r"|__(?:class|mro|subclasses|globals|builtins|import)__|\{\{[^}]*\b(?:constructor"
        r"|\$eval)\b",
        gate=("child_process", "mainmodule", "__", "{{"),
    ),
    _r(
        "944100",
        "Java / Log4Shell injection",
        r"java\.lang\.(?:runtime|processbuilder)|\$\{\s*(?:jndi\s*:|(?:lower|upper|env|sys|java"
        r"|date|main|ctx|spring|log4j|bundle|k8s|docker|web|sd)\s*:|::-|\$\{)",
        targets=ARGS | Target.HEADER | Target.UA_REFERER,
        gate=("java.lang", "${"),
    ),
    # -- 941 cross-site scripting -----------------------------------------------------------------
    _r(
        "941100",
        "XSS: script or active-content tag",
        r"<\s*/?\s*(?:script|iframe|frame|frameset|object|embed|applet|meta|base|isindex|xss"
        r"|vmlframe|import|style)\b|<\s*link\b[^>]*\bhref",
        views=("xss",),
        targets=ARGS_AND_UA | Target.PATH,
        gate=("<",),
    ),
    _r(
        "941110",
        "XSS: event handler attribute",
        rf"<[a-z][\w:-]*\b[^>]*?[\s/'\"`]on[a-z]{{3,}}\s*=|['\"`][^<>'\"`]*?[\s/'\"`]?{_EVENTS}"
        r"\s*=",
        views=("xss",),
        targets=ARGS_AND_UA | Target.PATH,
        gate=("<", "'", '"', "`"),
    ),
    _r(
        "941170",
        "XSS: script URI",
        r"(?:^|[\s\"'`=(<,;:&])\s*(?:(?:j\s*a\s*v\s*a|v\s*b|l\s*i\s*v\s*e)\s*s\s*c\s*r\s*i\s*p\s*t"
        r"\s*:\s*(?:[\w$.]+\s*[(\[=`]|[\w$]+\.\w|/[/*]|['\"`({\[!~+-])|data\s*:\s*(?:text/html"
        r"|application/(?:x-)?javascript|image/svg\+xml)\b)",
        views=("xss",),
        targets=ARGS_AND_UA | Target.PATH,
        gate=(":",),
    ),
    _r(
        "941180",
        "XSS: DOM sink",
        r"\bdocument\s*\.\s*(?:cookie|write|domain)\b|\.innerhtml\b|\bwindow\s*\.\s*location\b"
        r"|\bstring\s*\.\s*fromcharcode\b|-moz-binding|['\"`]\s*[-+*/;,|&]\s*(?:alert|prompt"
        r"|confirm|eval|fetch)\s*\(",
        views=("xss",),
        targets=ARGS_AND_UA,
        gate=("document", "innerhtml", "window", "fromcharcode", "-moz-binding", "'", '"', "`"),
    ),
    _r("941360", "XSS: JSFuck", r"![!+ ]\[\]|!\[\]\s*[+)\]]", views=("xss",), gate=("[]",)),
    _r(
        "941120",
        "XSS: event handler outside a tag",
        rf"(?:^|[\s;])\s*{_EVENTS}\s*=\s*\S",
        score=WARNING,
        views=("xss",),
        gate=("=",),
    ),
    _r(
        "941130",
        "XSS: script function call",
        r"\b(?:alert|prompt|confirm|eval)\s*\(",
        score=WARNING,
        views=("xss",),
        gate=("(",),
    ),
    # -- 942 SQL injection ------------------------------------------------------------------------
    _r(
        "942100",
        "SQL injection: boolean tautology or quote break",
        # At most one token (or a quote break) before the operator: what libinjection's
        # fingerprint of the first tokens sees, and not "3 < 5 and 7 > 2".
        rf"^\s*(?:[^'\"`]*['\"`]|[\w.@-]+|\(+)?\s*\)*\s*{_BOOL}\s+(?:not\s+)?\(*\s*{_LITERAL}\s*\)?\s*{_CMP}\s*\(?\s*['\"]?[\w@.-]*"
        rf"|^\s*(?:[^'\"`]*['\"`]|[\w.@-]+)\s*\)*\s*(?:{_BOOL}|{_CMP})\s*(?:not\s+)?(?:exists\s*)?\(\s*select\b"
        rf"|^\s*-?\d+\s*\)*\s*{_BOOL}\s+(?:true|not\s+false)\b"
        rf"|^[^'\"`]*['\"`]\s*\)*\s*{_BOOL}\s+[\w.]+\s*{_CMP}\s*['\"\d(]"
        rf"|\b(?:or|and)\s+(\w+)\s*=\s*\1\b"
        rf"|['\"`]\s*\)*\s*{_BOOL}\s+(?:true|false|null|\d+)\s*(?:$|;|\))"
        r"|(?:['\"`)]|\b\d+)\s*(?:order|group)\s+by\s+\d+\b|['\"`]\s*having\b|\bhaving\s+\d+\s*[=<>]",
        views=("sql",),
        targets=ARGS_AND_UA,
        gate=("or", "and", "xor", "|", "&", "order", "group", "having", "select"),
    ),
    _r(
        "942100",
        "SQL injection: quote then comment (login bypass)",
        r"^[\w.@+-]*['\"`]\s*\)*\s*(?:--|#|/\*|;\s*$)",
        targets=ARGS_AND_UA,
        gate=("'", '"', "`"),
    ),
    _r(
        "942190",
        "SQL injection: UNION SELECT",
        rf"(?:['\"`)]|\b\d+|\bnull)\s*\bunion(?:\s*(?:all|distinct))?\s*\(*\s*select"
        rf"|\bunion\b(?:\s+(?:all|distinct))?\s*\(*\s*select\b\s*{_COLUMNS}",
        views=("sql", "sql_spaced"),
        targets=ARGS_AND_UA,
        gate=("union",),
    ),
    _r(
        "942110",
        "SQL injection: stacked query",
        r";\s*(?:drop\s+(?:table|database|schema|view|index|user|procedure|function)\b"
        r"|delete\s+from\b|insert\s+into\b|update\s+[\w.`\"\[\]]+\s+set\b|truncate\s+(?:table\s+)?\w"
        r"|alter\s+(?:table|database|user)\b|create\s+(?:table|database|user|function|procedure"
        r"|trigger)\b|exec(?:ute)?\s+(?:master\.|xp_|sp_|@)|shutdown\b|declare\s+@|waitfor\b"
        r"|select\s+(?:\*|\w+\s*,|\w+\s*\(|@@|\d))",
        views=("sql", "sql_spaced"),
        targets=ARGS_AND_UA,
        gate=(";",),
    ),
    _r(
        "942160",
        "SQL injection: time-based probe",
        r"\b(?:pg_)?sleep\(\s*\d*\.?\d*\s*\)|\bbenchmark\(\s*\d+\s*,|\bwaitfor\s+(?:delay|time)"
        r"\s+['\"]|\bdbms_pipe\.receive_message\s*\(|\bselect\s+pg_sleep\b",
        views=("sql",),
        targets=ARGS_AND_UA,
        gate=("sleep(", "benchmark(", "waitfor", "dbms_pipe", "pg_sleep"),
    ),
    _r(
        "942140",
        "SQL injection: database catalog access",
        r"\b(?:information_schema|mysql\.(?:user|db)|pg_(?:catalog|shadow|user|toast)"
        r"|sqlite_(?:temp_)?master|sys\.(?:objects|tables|columns|databases)|sysobjects|syscolumns"
        r"|msysaccessobjects|msysobjects|all_tables|user_tables|dba_users|v\$version)\b"
        r"|master\.\.sysdatabases|@@(?:version|datadir|hostname|basedir)\b",
        views=("sql",),
        gate=(
            "information_schema",
            "mysql.",
            "pg_",
            "sqlite_",
            "sys",
            "msys",
            "all_tables",
            "user_tables",
            "dba_users",
            "v$version",
            "master..",
            "@@",
        ),
    ),
    _r(
        "942150",
        "SQL injection: file or shell access",
        r"\binto\s+(?:out|dump)file\b|\bxp_cmdshell\b|\bload_file\s*\(|\bexec(?:ute)?\s+master\."
        r"|\b(?:extractvalue|updatexml|group_concat)\s*\(|\(\s*case\s+when\b.+?\bthen\b",
        views=("sql",),
        gate=(
            "into",
            "xp_cmdshell",
            "load_file",
            "exec",
            "extractvalue",
            "updatexml",
            "group_concat",
            "case",
        ),
    ),
    _r(
        "942500",
        "SQL injection: MySQL inline comment",
        r"/\*[!+](?:[\w\s=_\-()]+)?\*/",
        gate=("/*",),
    ),
    _r(
        "942290",
        "NoSQL injection: MongoDB operator",
        r"\[\$(?:ne|eq|lte?|gte?|n?in|regex|where|exists|x?or|and|nor|not|expr|all|size|type)\]"
        r"|[\"']\$(?:where|ne|gt|regex|expr)[\"']\s*:",
        gate=("$",),
    ),
    _r(
        "942200",
        "SQL injection: subquery",
        r"\(\s*select\b.+?\bfrom\b",
        score=WARNING,
        views=("sql", "sql_spaced"),
        gate=("select",),
    ),
    _r(
        "942210",
        "SQL injection: string or metadata function",
        r"\b(?:char|chr|concat|ascii|substring|substr|mid|ord|hex|unhex|version|database|user"
        r"|current_user|schema|md5|sha1|length|if|ifnull|coalesce|cast|convert)\s*\(",
        score=WARNING,
        views=("sql",),
        gate=("(",),
    ),
    _r(
        "942440",
        "SQL comment sequence",
        r"/\*.*?\*/",
        score=WARNING,
        gate=("/*",),
    ),
)
"""Ordered so that the rule a request is blocked by (the first of its highest scores) is the
one that names the attack best."""


def _gate_scanner(tokens: set[str]) -> tuple[re.Pattern[str], dict[str, frozenset[str]]]:
    # One scan finds, at each position, the longest token starting there; the tokens that are
    # prefixes of it start there too, so each found token stands for itself and its prefixes.
    ordered = sorted(tokens, key=len, reverse=True)
    scanner = re.compile("(?=(" + "|".join(re.escape(token) for token in ordered) + "))")
    implied = {
        token: frozenset(other for other in tokens if token.startswith(other)) for token in tokens
    }
    return scanner, implied


_SCANNERS: dict[int, tuple[re.Pattern[str], dict[str, frozenset[str]]]] = {}


def gate_tokens(gate: str, target: int) -> frozenset[str]:
    """The gate substrings of the rules looking at ``target`` that ``gate`` (a ``gate_text``)
    holds. A header only three rules look at is scanned for their few substrings alone."""
    scanner = _SCANNERS.get(target)
    if scanner is None:
        tokens = {token for rule in RULES if rule.targets & target for token in rule.gate}
        scanner = _SCANNERS[target] = _gate_scanner(tokens)
    found = set(scanner[0].findall(gate))
    if not found:
        return frozenset()
    implied = scanner[1]
    return frozenset().union(*(implied[token] for token in found))
