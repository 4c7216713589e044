package awsjson

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/openami/openami/api/sigv4"
)

func TestOperation(t *testing.T) {
	for _, c := range []struct {
		method, target, name string
		ok                   bool
	}{
		{"POST", "TrentService.Encrypt", "Encrypt", true},
		{"GET", "TrentService.Encrypt", "Encrypt", false},
		{"POST", "AmazonSSM.GetParameter", "AmazonSSM.GetParameter", false},
		{"POST", "", "", false},
	} {
		r := httptest.NewRequest(c.method, "/", nil)
		r.Header.Set("X-Amz-Target", c.target)
		if name, ok := Operation(r, "TrentService."); name != c.name || ok != c.ok {
			t.Errorf("%s %q: %q %v, want %q %v", c.method, c.target, name, ok, c.name, c.ok)
		}
	}
}

func TestProtocolException(t *testing.T) {
	for _, c := range []struct {
		err  error
		want Exception
		ok   bool
	}{
		{&sigv4.Error{Failure: sigv4.UnknownKey, Message: "no such key"}, Exception{400, "UnrecognizedClientException", "no such key"}, true},
		{fmt.Errorf("op: %w", ErrUnknownOperation), Exception{400, "UnknownOperationException", ""}, true},
		{&SerializationError{Msg: "bad body"}, Exception{400, "SerializationException", "bad body"}, true},
		{errors.New("something else"), Exception{}, false},
	} {
		if got, ok := ProtocolException(c.err); got != c.want || ok != c.ok {
			t.Errorf("%v: %+v %v, want %+v %v", c.err, got, ok, c.want, c.ok)
		}
	}
}

func TestWriteResult(t *testing.T) {
	w := httptest.NewRecorder()
	if err := WriteResult(w, map[string]any{"KeyId": "k-1", "N": 2}); err != nil {
		t.Fatal(err)
	}
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != ContentType || w.Body.String() != `{"KeyId":"k-1","N":2}` {
		t.Errorf("got %d %q %s", w.Code, w.Header().Get("Content-Type"), w.Body)
	}
	w = httptest.NewRecorder()
	if err := WriteResult(w, math.Inf(1)); err == nil || w.Body.Len() != 0 || w.Header().Get("Content-Type") != "" {
		t.Errorf("an unencodable result: %v, wrote %q", err, w.Body)
	}
}

func TestWriteException(t *testing.T) {
	for _, c := range []struct {
		e    Exception
		body string
	}{
		{Exception{400, "NotFoundException", "Key 'k' does not exist"}, `{"__type":"NotFoundException","message":"Key 'k' does not exist"}`},
		{Exception{400, "UnknownOperationException", ""}, `{"__type":"UnknownOperationException"}`},
	} {
		w := httptest.NewRecorder()
		WriteException(w, c.e)
		if w.Code != c.e.Status || w.Header().Get("Content-Type") != ContentType || w.Header().Get("X-Amzn-ErrorType") != c.e.Type || w.Body.String() != c.body {
			t.Errorf("%+v: got %d %q %q %s", c.e, w.Code, w.Header().Get("Content-Type"), w.Header().Get("X-Amzn-ErrorType"), w.Body)
		}
	}
}

func TestDecode(t *testing.T) {
	var in struct{ KeyId string }
	if err := Decode([]byte(" \n"), &in); err != nil || in.KeyId != "" {
		t.Errorf("an empty body: %v %+v", err, in)
	}
	if err := Decode([]byte(`{"KeyId":"k-1"}`), &in); err != nil || in.KeyId != "k-1" {
		t.Errorf("a body: %v %+v", err, in)
	}
	var se *SerializationError
	if err := Decode([]byte(`{"KeyId":`), &in); !errors.As(err, &se) {
		t.Errorf("a broken body: %v, want a *SerializationError", err)
	}
}
