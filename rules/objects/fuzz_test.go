package objects

import "testing"

// FuzzPolicy: a bucket policy never panics the parser, and one it
// accepts can be decided for any caller and action.
func FuzzPolicy(f *testing.F) {
	f.Add(`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:Get*","Resource":"arn:aws:s3:::b/*"}]}`)
	f.Add(`{"Version":"2012-10-17","Statement":{"Effect":"Deny","Principal":{"AWS":["111111111111","arn:aws:iam::222222222222:root"]},"Action":["s3:*"],"Resource":["arn:aws:s3:::b","arn:aws:s3:::b/[x]?"]}}`)
	f.Add(`{"Statement":[{"Effect":"Allow","Principal":{"Service":"x"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b"}]}`)
	f.Fuzz(func(t *testing.T, doc string) {
		p, err := parsePolicy(doc, "b")
		if err != nil {
			return
		}
		p.decide(Anonymous(), ActGetObject, "arn:aws:s3:::b/k")
		p.decide(EC2(), ActListBucket, "arn:aws:s3:::b")
	})
}
