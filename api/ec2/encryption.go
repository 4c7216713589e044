package ec2

// EBS encryption by default: the account's switch and default KMS key in
// a region (rules/ebs/ebs_encryption.go holds the rules).

type ebsByDefaultResponse struct {
	response
	EbsEncryptionByDefault bool   `xml:"ebsEncryptionByDefault"`
	SseType                string `xml:"sseType,omitempty"`
}

type ebsDefaultKeyResponse struct {
	response
	KmsKeyID string `xml:"kmsKeyId"`
}

func (h *Handler) getEbsEncryptionByDefault(c *call) (responder, error) {
	var in struct{ dryRunParam }
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	on, err := h.ebs.GetEbsEncryptionByDefault(c.ctx, c.p)
	if err != nil {
		return nil, err
	}
	return &ebsByDefaultResponse{EbsEncryptionByDefault: on, SseType: "sse-ebs"}, nil
}

func (h *Handler) setEbsEncryptionByDefault(on bool) action {
	return func(c *call) (responder, error) {
		var in struct{ dryRunParam }
		if err := c.decode(&in); err != nil {
			return nil, err
		}
		got, err := h.ebs.SetEbsEncryptionByDefault(c.ctx, c.p, on)
		if err != nil {
			return nil, err
		}
		return &ebsByDefaultResponse{EbsEncryptionByDefault: got}, nil
	}
}

func (h *Handler) getEbsDefaultKmsKeyID(c *call) (responder, error) {
	var in struct{ dryRunParam }
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	id, err := h.ebs.GetEbsDefaultKmsKeyID(c.ctx, c.p)
	if err != nil {
		return nil, err
	}
	return &ebsDefaultKeyResponse{KmsKeyID: id}, nil
}

func (h *Handler) modifyEbsDefaultKmsKeyID(c *call) (responder, error) {
	var in struct {
		dryRunParam
		KmsKeyID string `query:"KmsKeyId,required"`
	}
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	id, err := h.ebs.ModifyEbsDefaultKmsKeyID(c.ctx, c.p, in.KmsKeyID)
	if err != nil {
		return nil, err
	}
	return &ebsDefaultKeyResponse{KmsKeyID: id}, nil
}

func (h *Handler) resetEbsDefaultKmsKeyID(c *call) (responder, error) {
	var in struct{ dryRunParam }
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	id, err := h.ebs.ResetEbsDefaultKmsKeyID(c.ctx, c.p)
	if err != nil {
		return nil, err
	}
	return &ebsDefaultKeyResponse{KmsKeyID: id}, nil
}
