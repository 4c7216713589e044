package ec2

import (
	"github.com/openami/openami"
	"github.com/openami/openami/internal/tagset"
	"github.com/openami/openami/rules/identity"
)

type createKeyPairInput struct {
	dryRunParam
	KeyName           string         `query:"KeyName,required"`
	KeyType           string         `query:"KeyType"`
	KeyFormat         string         `query:"KeyFormat"`
	TagSpecifications []tagSpecParam `query:"TagSpecification"`
}

type createKeyPairResponse struct {
	response
	KeyName        string         `xml:"keyName"`
	KeyFingerprint string         `xml:"keyFingerprint"`
	KeyMaterial    string         `xml:"keyMaterial"`
	KeyPairID      string         `xml:"keyPairId"`
	Tags           items[tagItem] `xml:"tagSet,omitempty"` // omitted when untagged, as EC2 does
}

func (h *Handler) createKeyPair(c *call) (responder, error) {
	var in createKeyPairInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	tags, err := tagset.For(tagSpecs(in.TagSpecifications), openami.ResourceKeyPair, openami.ResourceKeyPair)
	if err != nil {
		return nil, err
	}
	kp, err := h.identity.CreateKeyPair(c.ctx, c.p, identity.CreateKeyPairInput{
		Name: in.KeyName, Type: openami.KeyType(in.KeyType), Format: in.KeyFormat, Tags: tags,
	})
	if err != nil {
		return nil, err
	}
	return &createKeyPairResponse{
		KeyName:        kp.Name,
		KeyFingerprint: kp.Fingerprint,
		KeyMaterial:    kp.PrivateKey,
		KeyPairID:      kp.ID,
		Tags:           tagSet(kp.Tags),
	}, nil
}

type importKeyPairInput struct {
	dryRunParam
	KeyName           string         `query:"KeyName,required"`
	PublicKeyMaterial []byte         `query:"PublicKeyMaterial,required"`
	TagSpecifications []tagSpecParam `query:"TagSpecification"`
}

type importKeyPairResponse struct {
	response
	KeyName        string         `xml:"keyName"`
	KeyFingerprint string         `xml:"keyFingerprint"`
	KeyPairID      string         `xml:"keyPairId"`
	Tags           items[tagItem] `xml:"tagSet,omitempty"` // omitted when untagged, as EC2 does
}

func (h *Handler) importKeyPair(c *call) (responder, error) {
	var in importKeyPairInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	tags, err := tagset.For(tagSpecs(in.TagSpecifications), openami.ResourceKeyPair, openami.ResourceKeyPair)
	if err != nil {
		return nil, err
	}
	kp, err := h.identity.ImportKeyPair(c.ctx, c.p, in.KeyName, in.PublicKeyMaterial, tags)
	if err != nil {
		return nil, err
	}
	return &importKeyPairResponse{
		KeyName:        kp.Name,
		KeyFingerprint: kp.Fingerprint,
		KeyPairID:      kp.ID,
		Tags:           tagSet(kp.Tags),
	}, nil
}

type describeKeyPairsInput struct {
	dryRunParam
	KeyNames         []string      `query:"KeyName"`
	KeyPairIDs       []string      `query:"KeyPairId"`
	Filters          []filterParam `query:"Filter"`
	IncludePublicKey bool          `query:"IncludePublicKey"`
}

type keyPairItem struct {
	KeyPairID      string `xml:"keyPairId"`
	KeyFingerprint string `xml:"keyFingerprint"`
	KeyName        string `xml:"keyName"`
	KeyType        string `xml:"keyType"`
	// DescribeKeyPairs is one place EC2 keeps an empty tagSet: untagged
	// key pairs come back with "Tags": [] (the aws CLI's example).
	Tags       items[tagItem] `xml:"tagSet"`
	PublicKey  string         `xml:"publicKey,omitempty"`
	CreateTime string         `xml:"createTime"`
}

type describeKeyPairsResponse struct {
	response
	KeyPairs items[keyPairItem] `xml:"keySet"`
}

func (h *Handler) describeKeyPairs(c *call) (responder, error) {
	var in describeKeyPairsInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	fs, err := filtersOf(in.Filters, keyPairFilterNames)
	if err != nil {
		return nil, err
	}
	kps, err := h.identity.DescribeKeyPairs(c.ctx, c.p, in.KeyNames, in.KeyPairIDs, fs)
	if err != nil {
		return nil, err
	}
	out := &describeKeyPairsResponse{}
	for _, k := range kps {
		item := keyPairItem{
			KeyPairID:      k.ID,
			KeyFingerprint: k.Fingerprint,
			KeyName:        k.Name,
			KeyType:        string(k.Type),
			Tags:           tagSet(k.Tags),
			CreateTime:     timestamp(k.CreatedAt),
		}
		if in.IncludePublicKey {
			item.PublicKey = k.PublicKey
		}
		out.KeyPairs = append(out.KeyPairs, item)
	}
	return out, nil
}

type deleteKeyPairInput struct {
	dryRunParam
	KeyName   string `query:"KeyName"`
	KeyPairID string `query:"KeyPairId"`
}

type deleteKeyPairResponse struct {
	response
	Return    bool   `xml:"return"`
	KeyPairID string `xml:"keyPairId,omitempty"`
}

func (h *Handler) deleteKeyPair(c *call) (responder, error) {
	var in deleteKeyPairInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	id, err := h.identity.DeleteKeyPair(c.ctx, c.p, in.KeyName, in.KeyPairID)
	if err != nil {
		return nil, err
	}
	return &deleteKeyPairResponse{Return: true, KeyPairID: id}, nil
}
