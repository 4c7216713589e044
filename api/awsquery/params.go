package awsquery

import (
	"net/http"
	"net/url"
	"slices"

	"github.com/openami/openami"
)

// Params returns the parameters of a Query-protocol request.
//
// The rule is EC2's: a GET carries its parameters in the query string, a
// POST in its form-encoded body. A POST's query string may carry
// parameters too (a presigned request's X-Amz-* signature always does), and
// they are added to the body's, but a parameter present in both must have
// the same values in both. A request whose query string says one thing and
// whose body another — Action=CreateKeyPair in the query string and
// Action=DescribeRegions in the body — is ambiguous, and is refused with an
// InvalidCombination error naming the parameter rather than run as either.
// So is an Action or Version given twice with different values, which would
// otherwise run whichever came first. A GET's body is not read for
// parameters.
//
// Params returns an InvalidParameter *openami.Error when the query string
// or the body does not decode as a form.
func Params(r *http.Request, body []byte) (url.Values, error) {
	query, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, openami.Errorf(openami.InvalidParameter, "", "The query string is malformed")
	}
	params := query
	if r.Method == http.MethodPost && len(body) > 0 {
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, openami.Errorf(openami.InvalidParameter, "", "The request body is not a valid form")
		}
		for k, qv := range query {
			fv, ok := form[k]
			if !ok {
				form[k] = qv
				continue
			}
			if !sameValues(qv, fv) {
				return nil, openami.FieldErrorf(openami.InvalidCombination, k,
					"The parameter %s is given in both the query string and the request body, with different values; send the parameters of a POST in its body", k)
			}
		}
		params = form
	}
	for _, k := range []string{"Action", "Version"} {
		if v := params[k]; len(v) > 1 && !sameValues(v[:1], v) {
			return nil, openami.FieldErrorf(openami.InvalidCombination, k,
				"The parameter %s is given more than once, with different values", k)
		}
	}
	return params, nil
}

// sameValues reports whether a and b hold the same distinct values.
func sameValues(a, b []string) bool {
	a = slices.Compact(slices.Sorted(slices.Values(a)))
	b = slices.Compact(slices.Sorted(slices.Values(b)))
	return slices.Equal(a, b)
}
