package api

import (
	"context"
	"crypto/x509"
	"errors"
	"net/http"

	"github.com/openami/openami"
)

// EC2Certificates is what the endpoint asks of rules/identity to serve
// cert-ec2.pem (*identity.Accounts).
type EC2Certificates interface {
	EC2Certificate(ctx context.Context, region string) (*x509.Certificate, []byte, error)
}

// serveEC2Certificate answers GET /cert-ec2.pem?region=REGION, without
// authentication: a region's EC2 certificate in PEM, the cert-ec2.pem
// users encrypt bundles to (docs/IAM.md). Without region it is the first
// served region's. An unserved region is a 404.
func (s *Server) serveEC2Certificate(w http.ResponseWriter, r *http.Request) {
	region := r.URL.Query().Get("region")
	if region == "" {
		region = s.identity.Regions()[0].Name
	}
	_, pemBytes, err := s.certs.EC2Certificate(r.Context(), region)
	switch {
	case errors.Is(err, openami.ErrNotFound):
		http.Error(w, "This server does not serve the region '"+region+"'.", http.StatusNotFound)
		return
	case err != nil:
		s.log.ErrorContext(r.Context(), "cert-ec2.pem", "region", region, "error", err.Error())
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	w.Write(pemBytes)
}
