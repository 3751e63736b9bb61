package uci

import (
	"fmt"
	"strconv"
)

// Parse parses data, the contents of the file at path (used in errors).
// It stops at the first syntax error: later lines of a file whose quoting
// went wrong would only produce noise.
func Parse(path string, data []byte) (*File, error) {
	p := &parser{src: data, line: 1, f: &File{Path: path}}
	if err := p.run(); err != nil {
		return nil, err
	}
	return p.f, nil
}

// word is one parsed argument and the line it started on.
type word struct {
	text string
	line int
}

type parser struct {
	src  []byte
	pos  int
	line int
	f    *File

	cur   *Section       // section the next option belongs to
	named map[string]int // section name -> line of its config statement
}

func (p *parser) errorf(line int, format string, args ...any) error {
	return &Error{Path: p.f.Path, Line: line, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) eof() bool { return p.pos >= len(p.src) }

func (p *parser) peek(off int) byte {
	if p.pos+off < len(p.src) {
		return p.src[p.pos+off]
	}
	return 0
}

// blank is isspace() without the newline, which ends a statement.
func blank(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'
}

// continuation reports whether the parser is at a backslash that ends the
// line (libuci parse_backslash: "\\\n" or "\\\r\n"), which joins the next
// line to this one.
func (p *parser) continuation() bool {
	if p.peek(0) != '\\' {
		return false
	}
	return p.peek(1) == '\n' || (p.peek(1) == '\r' && p.peek(2) == '\n')
}

func (p *parser) skipContinuation() {
	if p.peek(1) == '\r' {
		p.pos++
	}
	p.pos += 2
	p.line++
}

// skipBlanks skips blanks and line continuations between words.
func (p *parser) skipBlanks() {
	for !p.eof() {
		switch {
		case blank(p.peek(0)):
			p.pos++
		case p.continuation():
			p.skipContinuation()
		default:
			return
		}
	}
}

func (p *parser) skipComment() {
	for !p.eof() && p.peek(0) != '\n' {
		p.pos++
	}
}

func (p *parser) run() error {
	p.named = map[string]int{}
	for {
		p.skipBlanks()
		if p.eof() {
			return nil
		}
		switch c := p.peek(0); c {
		case '\n':
			p.pos++
			p.line++
			continue
		case '#':
			p.skipComment()
			continue
		case ';':
			p.pos++
			continue
		}
		words, err := p.statement()
		if err != nil {
			return err
		}
		if err := p.apply(words); err != nil {
			return err
		}
	}
}

// statement reads the words of one statement, up to a newline, a `;`, a
// comment or the end of the file.
func (p *parser) statement() ([]word, error) {
	var words []word
	for {
		p.skipBlanks()
		if p.eof() {
			return words, nil
		}
		switch p.peek(0) {
		case '\n':
			return words, nil // the newline is consumed by run
		case ';':
			p.pos++
			return words, nil
		case '#':
			p.skipComment()
			return words, nil
		}
		w, end, err := p.word()
		if err != nil {
			return nil, err
		}
		words = append(words, w)
		if end {
			return words, nil
		}
	}
}

// word parses one argument as libuci's parse_str does. end reports that
// the word was cut short by `;` or `#`, which also end the statement.
func (p *parser) word() (w word, end bool, err error) {
	start := p.line
	var buf []byte
	for !p.eof() {
		c := p.peek(0)
		switch {
		case blank(c) || c == '\n':
			return word{string(buf), start}, false, nil
		case c == 0:
			return word{}, false, p.errorf(p.line, "NUL byte in file")
		case c == '\'':
			// Single quotes: everything up to the next quote, literally,
			// newlines included.
			open := p.line
			p.pos++
			for {
				if p.eof() {
					return word{}, false, p.errorf(open, "unterminated ' (quote opened here)")
				}
				c := p.peek(0)
				p.pos++
				if c == '\'' {
					break
				}
				if c == 0 {
					return word{}, false, p.errorf(p.line, "NUL byte in file")
				}
				if c == '\n' {
					p.line++
				}
				buf = append(buf, c)
			}
		case c == '"':
			// Double quotes: a backslash takes the next character
			// literally; a backslash at the end of a line joins the lines.
			open := p.line
			p.pos++
			for {
				if p.eof() {
					return word{}, false, p.errorf(open, "unterminated \" (quote opened here)")
				}
				if p.continuation() {
					p.skipContinuation()
					continue
				}
				c := p.peek(0)
				if c == '"' {
					p.pos++
					break
				}
				if c == '\\' {
					p.pos++
					if p.eof() {
						return word{}, false, p.errorf(open, "unterminated \" (quote opened here)")
					}
					c = p.peek(0)
				}
				if c == 0 {
					return word{}, false, p.errorf(p.line, "NUL byte in file")
				}
				if c == '\n' {
					p.line++
				}
				buf = append(buf, c)
				p.pos++
			}
		case c == '#':
			p.skipComment()
			return word{string(buf), start}, true, nil
		case c == ';':
			p.pos++
			return word{string(buf), start}, true, nil
		case p.continuation():
			p.skipContinuation()
		case c == '\\':
			p.pos++
			if p.eof() {
				return word{string(buf), start}, false, nil
			}
			if p.peek(0) == 0 {
				return word{}, false, p.errorf(p.line, "NUL byte in file")
			}
			buf = append(buf, p.peek(0))
			p.pos++
		default:
			buf = append(buf, c)
			p.pos++
		}
	}
	return word{string(buf), start}, false, nil
}

// validName is libuci's uci_validate_name: [A-Za-z0-9_]+.
func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// validType accepts letters, digits, _ and -. libuci's uci_validate_type
// also allows punctuation and quotes; no configuration of ours uses them,
// and `uci export` cannot write them back unambiguously.
func validType(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c != '-' && !validName(s[i:i+1]) {
			return false
		}
	}
	return true
}

func (p *parser) apply(words []word) error {
	if len(words) == 0 {
		return nil
	}
	cmd := words[0]
	args := words[1:]
	switch cmd.text {
	case "config", "c":
		return p.config(cmd, args)
	case "option", "o":
		return p.option(cmd, args, false)
	case "list", "l":
		return p.option(cmd, args, true)
	case "package", "p":
		return p.errorf(cmd.line, "package statements are not supported: one file is one configuration")
	}
	return p.errorf(cmd.line, "invalid command %s (want config, option or list)", strconv.Quote(cmd.text))
}

func (p *parser) config(cmd word, args []word) error {
	if len(args) == 0 || args[0].text == "" {
		return p.errorf(cmd.line, "config without a section type")
	}
	if len(args) > 2 {
		return p.errorf(args[2].line, "too many arguments to config: %q", args[2].text)
	}
	typ := args[0].text
	if !validType(typ) {
		return p.errorf(args[0].line, "invalid section type %q (letters, digits, _ and - only)", typ)
	}
	s := &Section{Type: typ, Line: cmd.line, file: p.f}
	if len(args) == 2 && args[1].text != "" {
		name := args[1].text
		if !validName(name) {
			return p.errorf(args[1].line, "invalid section name %q (letters, digits and _ only)", name)
		}
		if at, dup := p.named[name]; dup {
			return p.errorf(cmd.line, "section '%s' is already defined at line %d", name, at)
		}
		p.named[name] = cmd.line
		s.Name = name
	}
	p.f.Sections = append(p.f.Sections, s)
	p.cur = s
	return nil
}

func (p *parser) option(cmd word, args []word, list bool) error {
	what := "option"
	if list {
		what = "list"
	}
	if p.cur == nil {
		return p.errorf(cmd.line, "%s before the first config section", what)
	}
	if len(args) == 0 || args[0].text == "" {
		return p.errorf(cmd.line, "%s without a name", what)
	}
	name := args[0].text
	if !validName(name) {
		return p.errorf(args[0].line, "invalid %s name %q (letters, digits and _ only)", what, name)
	}
	if len(args) < 2 {
		return p.errorf(cmd.line, "%s %s has no value", what, name)
	}
	if len(args) > 2 {
		return p.errorf(args[2].line, "too many arguments to %s %s: %q (quote values that contain blanks)", what, name, args[2].text)
	}
	value := args[1].text
	if value == "" {
		// libuci treats `option x ''` as deleting x; here it is a mistake.
		return p.errorf(args[1].line, "%s %s has an empty value (remove the line to leave it unset)", what, name)
	}
	if o := p.cur.Option(name); o != nil {
		switch {
		case !list && !o.List:
			return p.errorf(cmd.line, "option %s is already set at line %d", name, o.Line())
		case list != o.List:
			prev := "option"
			if o.List {
				prev = "list"
			}
			return p.errorf(cmd.line, "%s %s mixes with %s %s at line %d: use list for every value", what, name, prev, name, o.Line())
		}
		o.Values = append(o.Values, value)
		o.Lines = append(o.Lines, cmd.line)
		return nil
	}
	p.cur.Options = append(p.cur.Options, &Option{Name: name, List: list, Values: []string{value}, Lines: []int{cmd.line}})
	return nil
}
