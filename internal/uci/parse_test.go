package uci

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// dump renders a parsed file one line per section and option value, with
// line numbers, so tables can state exactly what the parser saw.
func dump(f *File) string {
	var b strings.Builder
	for _, s := range f.Sections {
		fmt.Fprintf(&b, "%d config %s %q\n", s.Line, s.Type, s.Name)
		for _, o := range s.Options {
			cmd := "option"
			if o.List {
				cmd = "list"
			}
			for i, v := range o.Values {
				fmt.Fprintf(&b, "%d  %s %s %q\n", o.Lines[i], cmd, o.Name, v)
			}
		}
	}
	return b.String()
}

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{
			name: "openwrt style",
			in:   "\n# pmip\nconfig mag 'main'\n\toption lma_address '2001:db8::1'\n\tlist proxy_coa '2001:db8:1::2'\n\tlist proxy_coa \"192.0.2.2\"\n\nconfig access lan\n\toption interface br-lan\n",
			want: "3 config mag \"main\"\n" +
				"4  option lma_address \"2001:db8::1\"\n" +
				"5  list proxy_coa \"2001:db8:1::2\"\n" +
				"6  list proxy_coa \"192.0.2.2\"\n" +
				"8 config access \"lan\"\n" +
				"9  option interface \"br-lan\"\n",
		},
		{
			name: "anonymous sections and short commands",
			in:   "c policy\no realm example.net\nconfig policy ''\nl x a\nl x b\n",
			want: "1 config policy \"\"\n2  option realm \"example.net\"\n3 config policy \"\"\n4  list x \"a\"\n5  list x \"b\"\n",
		},
		{
			name: "quote joining, escapes, comments",
			in:   "config t n\noption a 'it'\\''s' # trailing comment\noption b \"say \\\"hi\\\"\\\\\"\noption c one\\ word\noption d x#not-a-value\noption e 'a#b'\n",
			want: "1 config t \"n\"\n2  option a \"it's\"\n3  option b \"say \\\"hi\\\"\\\\\"\n4  option c \"one word\"\n5  option d \"x\"\n6  option e \"a#b\"\n",
		},
		{
			name: "multi-line quotes keep line numbers right",
			in:   "config t n\noption a 'line1\nline2'\noption b \"x\\\ny\"\noption c z\n",
			want: "1 config t \"n\"\n2  option a \"line1\\nline2\"\n4  option b \"xy\"\n6  option c \"z\"\n",
		},
		{
			name: "backslash continuation between words",
			in:   "config t n\noption a \\\n  'v'\noption b w\n",
			want: "1 config t \"n\"\n2  option a \"v\"\n4  option b \"w\"\n",
		},
		{
			name: "semicolons and CRLF",
			in:   "config t n; option a 1; option b 2\r\n\toption c '3'\r\n",
			want: "1 config t \"n\"\n1  option a \"1\"\n1  option b \"2\"\n2  option c \"3\"\n",
		},
		{
			name: "empty file",
			in:   "  \n# nothing\n\n",
			want: "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse("test.conf", []byte(tt.in))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if diff := cmp.Diff(tt.want, dump(f)); diff != "" {
				t.Errorf("parsed (-want +got):\n%s", diff)
			}
			// What we parse, we can write back and read again unchanged.
			g, err := Parse("again.conf", Format(f))
			if err != nil {
				t.Fatalf("Parse(Format): %v\n%s", err, Format(f))
			}
			if diff := cmp.Diff(values(f), values(g)); diff != "" {
				t.Errorf("round trip (-first +second):\n%s", diff)
			}
		})
	}
}

// values is dump without line numbers.
func values(f *File) []string {
	var out []string
	for _, s := range f.Sections {
		out = append(out, "config "+s.Type+" "+s.Name)
		for _, o := range s.Options {
			out = append(out, fmt.Sprintf("%s %v %q", o.Name, o.List, o.Values))
		}
	}
	return out
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"option before section", "option a b\n", "test.conf:1: option before the first config section"},
		{"unknown command", "config t\n\noptoin a b\n", `test.conf:3: invalid command "optoin" (want config, option or list)`},
		{"duplicate option", "config t\noption a 1\n\noption a 2\n", "test.conf:4: option a is already set at line 2"},
		{"option then list", "config t\noption a 1\nlist a 2\n", "test.conf:3: list a mixes with option a at line 2: use list for every value"},
		{"list then option", "config t\nlist a 1\noption a 2\n", "test.conf:3: option a mixes with list a at line 2: use list for every value"},
		{"duplicate section", "config t x\nconfig t y\nconfig u x\n", "test.conf:3: section 'x' is already defined at line 1"},
		{"missing value", "config t\noption a\n", "test.conf:2: option a has no value"},
		{"empty value", "config t\noption a ''\n", "test.conf:2: option a has an empty value (remove the line to leave it unset)"},
		{"too many arguments", "config t\noption a b c\n", `test.conf:2: too many arguments to option a: "c" (quote values that contain blanks)`},
		{"too many config arguments", "config t n extra\n", `test.conf:1: too many arguments to config: "extra"`},
		{"bad option name", "config t\noption a-b 1\n", `test.conf:2: invalid option name "a-b" (letters, digits and _ only)`},
		{"bad section name", "config t 'my name'\n", `test.conf:1: invalid section name "my name" (letters, digits and _ only)`},
		{"config without type", "config\n", "test.conf:1: config without a section type"},
		{"bad section type", "config 'a\"b'\n", `test.conf:1: invalid section type "a\"b" (letters, digits, _ and - only)`},
		{"unterminated single", "config t\noption a 'abc\n\n\n", "test.conf:2: unterminated ' (quote opened here)"},
		{"unterminated double", "config t\n\noption a \"abc\\\"\n", "test.conf:3: unterminated \" (quote opened here)"},
		{"package", "package pmip\n", "test.conf:1: package statements are not supported: one file is one configuration"},
		{"NUL", "config t\noption a b\x00c\n", "test.conf:2: NUL byte in file"},
		{"line after multi-line value", "config t\noption a 'x\ny'\noption b\n", "test.conf:4: option b has no value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("test.conf", []byte(tt.in))
			if err == nil {
				t.Fatalf("Parse succeeded, want %q", tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("error\n got: %s\nwant: %s", err, tt.want)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Errorf("error is %T, want *uci.Error", err)
			}
		})
	}
}

func TestParseFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pmip")
	if err := os.WriteFile(path, []byte("config mag main\n\toption x y\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := ParseFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if f.Path != path || len(f.Sections) != 1 || f.Sections[0].Path() != path {
		t.Errorf("ParseFile = %+v", f)
	}
	if _, err := ParseFile(path + ".missing"); err == nil || !strings.HasPrefix(err.Error(), "uci: open ") {
		t.Errorf("ParseFile(missing) error = %v", err)
	}
}

func TestCheckTypes(t *testing.T) {
	f, err := Parse("x.conf", []byte("config mag main\nconfig acess wlan\nconfig zzz\n"))
	if err != nil {
		t.Fatal(err)
	}
	errs := f.CheckTypes("mag", "access", "policy")
	got := fmt.Sprint(errs)
	want := `[x.conf:2: unknown section type "acess" (did you mean "access"?) x.conf:3: unknown section type "zzz" (known: mag, access, policy)]`
	if got != want {
		t.Errorf("CheckTypes\n got: %s\nwant: %s", got, want)
	}
}

func TestSuggest(t *testing.T) {
	known := []string{"lma_address", "proxy_coa", "tunnel", "binding_lifetime"}
	for in, want := range map[string]string{
		"lma_adress":      "lma_address",
		"tunel":           "tunnel",
		"tunenl":          "tunnel",
		"proxycoa":        "proxy_coa",
		"binding_lifetim": "binding_lifetime",
		"colour":          "",
		"x":               "",
	} {
		if got := Suggest(in, known); got != want {
			t.Errorf("Suggest(%q) = %q, want %q", in, got, want)
		}
	}
	if got := Suggest("a", nil); got != "" {
		t.Errorf("Suggest with no candidates = %q", got)
	}
}
