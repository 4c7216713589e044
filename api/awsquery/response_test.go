package awsquery

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/openami/openami/api/sigv4"
)

func TestWriteResponse(t *testing.T) {
	type result struct {
		Name string `xml:"Name"`
	}
	w := httptest.NewRecorder()
	if err := WriteResponse(w, "https://example.com/doc/", "GetThing", "req-1", result{Name: "a<b"}); err != nil {
		t.Fatal(err)
	}
	want := `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<GetThingResponse xmlns="https://example.com/doc/"><GetThingResult><Name>a&lt;b</Name></GetThingResult><ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata></GetThingResponse>`
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "text/xml" || w.Body.String() != want {
		t.Errorf("got %d %q\n%s\nwant 200 text/xml\n%s", w.Code, w.Header().Get("Content-Type"), w.Body, want)
	}

	w = httptest.NewRecorder()
	if err := WriteResponse(w, "ns", "DeleteThing", "req-2", nil); err != nil {
		t.Fatal(err)
	}
	want = `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<DeleteThingResponse xmlns="ns"><ResponseMetadata><RequestId>req-2</RequestId></ResponseMetadata></DeleteThingResponse>`
	if w.Body.String() != want {
		t.Errorf("got\n%s\nwant\n%s", w.Body, want)
	}

	// A result that does not encode writes nothing.
	w = httptest.NewRecorder()
	if err := WriteResponse(w, "ns", "Bad", "req-3", map[string]float64{"x": math.Inf(1)}); err == nil {
		t.Error("an unencodable result: no error")
	}
	if w.Body.Len() != 0 || w.Header().Get("Content-Type") != "" {
		t.Errorf("an unencodable result wrote %q", w.Body)
	}
}

func TestWriteError(t *testing.T) {
	for _, c := range []struct {
		status   int
		wantType string
	}{{400, "Sender"}, {404, "Sender"}, {500, "Receiver"}, {503, "Receiver"}} {
		w := httptest.NewRecorder()
		WriteError(w, "ns", "req-1", c.status, "NoSuchThing", "The thing & more")
		want := `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
			`<ErrorResponse xmlns="ns"><Error><Type>` + c.wantType + `</Type><Code>NoSuchThing</Code><Message>The thing &amp; more</Message></Error><RequestId>req-1</RequestId></ErrorResponse>`
		if w.Code != c.status || w.Header().Get("Content-Type") != "text/xml" || w.Body.String() != want {
			t.Errorf("status %d: got %d %q\n%s\nwant\n%s", c.status, w.Code, w.Header().Get("Content-Type"), w.Body, want)
		}
	}
}

func TestProtocolError(t *testing.T) {
	for _, c := range []struct {
		err       error
		status    int
		code, msg string
		ok        bool
	}{
		{&sigv4.Error{Failure: sigv4.Expired, Message: "expired"}, 403, "ExpiredToken", "expired", true},
		{fmt.Errorf("serve: %w", &InvalidAction{Name: "Frob"}), 400, "InvalidAction", "Could not find operation Frob", true},
		{&InvalidAction{Name: " "}, 400, "InvalidAction", "Could not find operation", true},
		{errors.New("other"), 0, "", "", false},
	} {
		status, code, msg, ok := ProtocolError(c.err)
		if status != c.status || code != c.code || msg != c.msg || ok != c.ok {
			t.Errorf("%v: %d %q %q %v, want %d %q %q %v", c.err, status, code, msg, ok, c.status, c.code, c.msg, c.ok)
		}
	}
}
