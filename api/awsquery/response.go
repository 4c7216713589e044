package awsquery

import (
	"bytes"
	"encoding/xml"
	"net/http"
)

// The Query protocol's answers, as IAM, STS and Auto Scaling write them:
//
//	<XResponse xmlns="namespace"><XResult>…</XResult>
//	<ResponseMetadata><RequestId>id</RequestId></ResponseMetadata></XResponse>
//
// and, for an error,
//
//	<ErrorResponse xmlns="namespace"><Error><Type>Sender</Type><Code>…</Code>
//	<Message>…</Message></Error><RequestId>id</RequestId></ErrorResponse>
//
// (EC2's answers have another shape; api/ec2 writes its own.)

type responseMetadata struct {
	RequestID string `xml:"RequestId"`
}

// WriteResponse answers action with status 200 and its result in the
// Query protocol's envelope: result (any value encoding/xml encodes; nil
// for an action without a result) inside <actionResult>, then the request
// id, all inside <actionResponse xmlns=namespace>. It encodes the whole
// answer before writing anything, so when it returns an error nothing has
// been written and the caller can still answer with an error.
func WriteResponse(w http.ResponseWriter, namespace, action, requestID string, result any) error {
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	enc := xml.NewEncoder(&buf)
	start := xml.StartElement{Name: xml.Name{Local: action + "Response"}, Attr: []xml.Attr{{Name: xml.Name{Local: "xmlns"}, Value: namespace}}}
	err := enc.EncodeToken(start)
	if err == nil && result != nil {
		err = enc.EncodeElement(result, xml.StartElement{Name: xml.Name{Local: action + "Result"}})
	}
	if err == nil {
		err = enc.EncodeElement(responseMetadata{RequestID: requestID}, xml.StartElement{Name: xml.Name{Local: "ResponseMetadata"}})
	}
	if err == nil {
		err = enc.EncodeToken(start.End())
	}
	if err == nil {
		err = enc.Flush()
	}
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/xml")
	w.Write(buf.Bytes())
	return nil
}

type errorResponse struct {
	XMLName xml.Name `xml:"ErrorResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Error   struct {
		Type    string `xml:"Type"`
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	} `xml:"Error"`
	RequestID string `xml:"RequestId"`
}

// WriteError answers with status and an <ErrorResponse xmlns=namespace>
// holding code and message. Its Type is Receiver for a status of 500 or
// more (the server's fault) and Sender otherwise.
func WriteError(w http.ResponseWriter, namespace, requestID string, status int, code, message string) {
	var out errorResponse
	out.Xmlns = namespace
	out.RequestID = requestID
	out.Error.Type = "Sender"
	if status >= 500 {
		out.Error.Type = "Receiver"
	}
	out.Error.Code, out.Error.Message = code, message
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	xml.NewEncoder(&buf).Encode(out) // strings only: cannot fail
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}
