package cel

import "strings"

// Property names become CEL identifiers as Kubernetes escapes them: a name that is a CEL
// reserved word becomes __word__; in other names "__" becomes __underscores__, "." __dot__,
// "-" __dash__ and "/" __slash__. Names with other characters, or starting with a digit,
// cannot be named in expressions at all.

var reservedWords = map[string]bool{
	"true": true, "false": true, "null": true, "in": true,
	"as": true, "break": true, "const": true, "continue": true, "else": true,
	"for": true, "function": true, "if": true, "import": true, "let": true,
	"loop": true, "package": true, "namespace": true, "return": true,
	"var": true, "void": true, "while": true,
}

// Escape returns the CEL identifier for a property name, or false when it has none.
func Escape(name string) (string, bool) {
	if name == "" || (name[0] >= '0' && name[0] <= '9') {
		return "", false
	}
	if reservedWords[name] {
		return "__" + name + "__", true
	}
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '_' && i+1 < len(name) && name[i+1] == '_':
			b.WriteString("__underscores__")
			i++
		case c == '.':
			b.WriteString("__dot__")
		case c == '-':
			b.WriteString("__dash__")
		case c == '/':
			b.WriteString("__slash__")
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9':
			b.WriteByte(c)
		default:
			return "", false
		}
	}
	return b.String(), true
}

// Unescape reverses Escape; false for identifiers with unknown escapes.
func Unescape(ident string) (string, bool) {
	if !strings.Contains(ident, "__") {
		return ident, true
	}
	if strings.HasPrefix(ident, "__") && strings.HasSuffix(ident, "__") && len(ident) > 4 {
		if inner := ident[2 : len(ident)-2]; reservedWords[inner] {
			return inner, true
		}
	}
	var b strings.Builder
	for i := 0; i < len(ident); {
		if !strings.HasPrefix(ident[i:], "__") {
			b.WriteByte(ident[i])
			i++
			continue
		}
		end := strings.Index(ident[i+2:], "__")
		if end < 0 {
			return "", false
		}
		switch ident[i+2 : i+2+end] {
		case "underscores":
			b.WriteString("__")
		case "dot":
			b.WriteByte('.')
		case "dash":
			b.WriteByte('-')
		case "slash":
			b.WriteByte('/')
		default:
			return "", false
		}
		i += end + 4
	}
	return b.String(), true
}
