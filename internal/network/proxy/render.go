package proxy

import (
	"fmt"
	"strings"
)

// Render writes the model in `nft -f` syntax: the commands that create the table
// from nothing, in the order the Proxier programs them (chains before the rules that
// jump to them, sets before the rules and elements that use them). The output is
// deterministic and is what the golden files hold.
func Render(m *Model) string {
	var b strings.Builder
	t := "ip " + m.Table
	fmt.Fprintf(&b, "add table %s\n", t)
	for _, c := range m.Chains {
		c.WriteDecl(&b, t)
	}
	for _, s := range m.Sets {
		renderSetDecl(&b, t, s)
	}
	for _, c := range m.Chains {
		c.WriteRules(&b, t)
	}
	renderElements(&b, t, m.Elements)
	for _, sr := range m.Services {
		fmt.Fprintf(&b, "\n# %s\n", sr.Name)
		for _, c := range sr.Chains {
			c.WriteDecl(&b, t)
		}
		for _, s := range sr.Sets {
			renderSetDecl(&b, t, s)
		}
		for _, c := range sr.Chains {
			c.WriteRules(&b, t)
		}
		renderElements(&b, t, sr.Elements)
	}
	return b.String()
}

func renderSetDecl(b *strings.Builder, t string, s Set) {
	switch {
	case s.Map:
		fmt.Fprintf(b, "add map %s %s { type %s : verdict; }\n", t, s.Name, s.Key)
	case s.Timeout > 0:
		fmt.Fprintf(b, "add set %s %s { type %s; flags dynamic,timeout; timeout %ds; }\n", t, s.Name, s.Key, int64(s.Timeout.Seconds()))
	default:
		fmt.Fprintf(b, "add set %s %s { type %s; }\n", t, s.Name, s.Key)
	}
}

func (e Element) keyText() string {
	switch {
	case e.Addr.IsValid() && e.Port != 0:
		return fmt.Sprintf("%s . %s . %d", e.Addr, e.Proto, e.Port)
	case e.Port != 0:
		return fmt.Sprintf("%s . %d", e.Proto, e.Port)
	}
	return e.Addr.String()
}

func renderElements(b *strings.Builder, t string, es []Element) {
	for _, e := range es {
		if e.Port != 0 {
			fmt.Fprintf(b, "add element %s %s { %s : %s }\n", t, e.Set, e.keyText(), e.Verdict)
		} else {
			fmt.Fprintf(b, "add element %s %s { %s }\n", t, e.Set, e.keyText())
		}
	}
}
