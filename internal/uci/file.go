// Package uci reads configuration files in OpenWrt's UCI syntax, so both
// daemons share one format and the MAG on an access point reads
// /etc/config/pmip directly.
//
// The syntax is the one libuci's file parser (openwrt/uci file.c) accepts:
//
//	# comment
//	config <type> ['<name>']
//		option <key> '<value>'
//		list <key> '<value>'
//
// Words are separated by blanks; `'...'` quotes literally (it may span
// lines), `"..."` and unquoted words take the character after a backslash
// literally, a backslash before a newline continues the line, adjacent
// quoted and unquoted parts join into one word (`'it'\'s` reads it's), `#`
// outside quotes starts a comment and `;` separates statements on a line.
// The one-letter commands c, o and l are the same as config, option, list.
//
// The parser is stricter than libuci, because a typo in a daemon's
// configuration must stop the daemon at start rather than be ignored:
// names must be [A-Za-z0-9_]+, a named section may appear once, an
// `option` may not be repeated in a section nor mixed with a `list` of the
// same key, a value may not be empty or missing, extra words are errors,
// and `package` statements are not supported. Every error names the file,
// the line and what is wrong.
//
// Reading typed values out of sections is the Decoder's job (decode.go).
package uci

import (
	"fmt"
	"os"
	"strings"
)

// File is one parsed configuration file.
type File struct {
	// Path names the file in error messages.
	Path string
	// Sections in file order.
	Sections []*Section
}

// Section is one `config <type> ['<name>']` block.
type Section struct {
	// Type is the word after `config`.
	Type string
	// Name is the section's name, "" for an anonymous section.
	Name string
	// Line is the line of the `config` statement (1-based).
	Line int
	// Options in the order their first statement appeared.
	Options []*Option

	file *File
}

// Option is an `option` or the values of every `list` statement of one key
// in a section.
type Option struct {
	// Name is the key.
	Name string
	// List is true when the key was given with `list` statements.
	List bool
	// Values holds one value for an option, every list entry in order for a
	// list. Values are never empty.
	Values []string
	// Lines holds the line of each value's statement.
	Lines []int
}

// Line is the line of the option's first statement.
func (o *Option) Line() int { return o.Lines[0] }

// Error is a configuration problem at a line of a file. Its text reads
// "path:line: message" so editors and operators can jump to it.
type Error struct {
	Path string
	Line int // 0 when the problem concerns the whole file
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.Path, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.Path, e.Msg)
}

// ParseFile reads and parses the file at path.
func ParseFile(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("uci: %w", err)
	}
	return Parse(path, data)
}

// Path is the path of the file the section came from.
func (s *Section) Path() string {
	if s.file == nil {
		return ""
	}
	return s.file.Path
}

// Option returns the option called name, or nil.
func (s *Section) Option(name string) *Option {
	for _, o := range s.Options {
		if o.Name == name {
			return o
		}
	}
	return nil
}

// String names the section the way error messages do: `config mag 'main'`
// or, for an anonymous one, `config policy`.
func (s *Section) String() string {
	if s.Name == "" {
		return "config " + s.Type
	}
	return fmt.Sprintf("config %s '%s'", s.Type, s.Name)
}

// Errorf returns an *Error at the section's `config` line.
func (s *Section) Errorf(format string, args ...any) *Error {
	return &Error{Path: s.Path(), Line: s.Line, Msg: fmt.Sprintf(format, args...)}
}

// OptionErrorf returns an *Error at the line of option name, or at the
// section's line when the option is absent. The message is prefixed with
// "option <name>: ".
func (s *Section) OptionErrorf(name, format string, args ...any) *Error {
	line := s.Line
	if o := s.Option(name); o != nil {
		line = o.Line()
	}
	return &Error{Path: s.Path(), Line: line, Msg: "option " + name + ": " + fmt.Sprintf(format, args...)}
}

// Errorf returns an *Error at line of the file.
func (f *File) Errorf(line int, format string, args ...any) *Error {
	return &Error{Path: f.Path, Line: line, Msg: fmt.Sprintf(format, args...)}
}

// Sections returns the sections of type typ, in file order.
func (f *File) SectionsOf(typ string) []*Section {
	var out []*Section
	for _, s := range f.Sections {
		if s.Type == typ {
			out = append(out, s)
		}
	}
	return out
}

// Only returns the one section of type typ, for section types a file must
// have exactly once (a daemon's main section). With none it returns nil
// and an error of the file saying so, why being what the section is for;
// with several, the first and an error at the second.
func (f *File) Only(typ, why string) (*Section, *Error) {
	ss := f.SectionsOf(typ)
	switch len(ss) {
	case 0:
		return nil, &Error{Path: f.Path, Msg: fmt.Sprintf("no `config %s` section: %s", typ, why)}
	case 1:
		return ss[0], nil
	}
	return ss[0], ss[1].Errorf("second `config %s` section (the first is at line %d)", typ, ss[0].Line)
}

// CheckTypes returns an error for every section whose type is not one of
// known, suggesting the nearest known type.
func (f *File) CheckTypes(known ...string) []error {
	var errs []error
	for _, s := range f.Sections {
		if contains(known, s.Type) {
			continue
		}
		msg := fmt.Sprintf("unknown section type %q", s.Type)
		if sug := Suggest(s.Type, known); sug != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", sug)
		} else {
			msg += " (known: " + strings.Join(known, ", ") + ")"
		}
		errs = append(errs, &Error{Path: f.Path, Line: s.Line, Msg: msg})
	}
	return errs
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Format renders f back in UCI syntax the way `uci export` writes it: every
// value single-quoted, a quote inside closing the quotes, escaped with a
// backslash, then reopening them. Parse(Format(f))
// gives back f.
func Format(f *File) []byte {
	var b strings.Builder
	for i, s := range f.Sections {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString("config " + s.Type)
		if s.Name != "" {
			b.WriteString(" " + quote(s.Name))
		}
		b.WriteByte('\n')
		for _, o := range s.Options {
			cmd := "option"
			if o.List {
				cmd = "list"
			}
			for _, v := range o.Values {
				fmt.Fprintf(&b, "\t%s %s %s\n", cmd, o.Name, quote(v))
			}
		}
	}
	return []byte(b.String())
}

// quote single-quotes s as uci_escape does.
func quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
