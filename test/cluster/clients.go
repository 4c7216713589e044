package cluster

import (
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ebs"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/openami/openami/internal/testenv"
)

// AWSConfig returns an SDK configuration that sends the credentials'
// requests to this node, in the cluster's first region. Retries are
// off: a retry would hide a wrong answer.
func (n *Node) AWSConfig(c Credentials) aws.Config {
	return aws.Config{
		Region:           strings.Split(n.c.Regions, ",")[0],
		Credentials:      credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, ""),
		BaseEndpoint:     aws.String(n.Endpoint),
		RetryMaxAttempts: 1,
		HTTPClient:       testenv.ReadOnlyBody{Client: awshttp.NewBuildableClient().WithTimeout(2 * time.Minute)},
	}
}

// EC2 returns an EC2 client of this node.
func (n *Node) EC2(c Credentials) *ec2.Client { return ec2.NewFromConfig(n.AWSConfig(c)) }

// EBS returns an EBS direct API client of this node.
func (n *Node) EBS(c Credentials) *ebs.Client { return ebs.NewFromConfig(n.AWSConfig(c)) }

// KMS returns a KMS client of this node.
func (n *Node) KMS(c Credentials) *kms.Client { return kms.NewFromConfig(n.AWSConfig(c)) }

// S3 returns a path-style S3 client of this node.
func (n *Node) S3(c Credentials) *s3.Client {
	return s3.NewFromConfig(n.AWSConfig(c), func(o *s3.Options) { o.UsePathStyle = true })
}

// AdminCredentials returns the administrator's access key from the
// node's DATA_DIR/credentials (the [openami] profile), which only the
// node that made the administrator writes; false if the node has none.
// AccountID is left empty.
func (n *Node) AdminCredentials() (Credentials, bool) {
	data, err := os.ReadFile(filepath.Join(n.DataDir, "credentials"))
	if err != nil {
		return Credentials{}, false
	}
	var c Credentials
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "aws_access_key_id":
			c.AccessKeyID = strings.TrimSpace(v)
		case "aws_secret_access_key":
			c.SecretAccessKey = strings.TrimSpace(v)
		}
	}
	return c, c.AccessKeyID != "" && c.SecretAccessKey != ""
}

// EC2In returns an EC2 client of this node in another of the cluster's
// regions (cross-region calls such as CopySnapshot are made in the
// destination region).
func (n *Node) EC2In(c Credentials, region string) *ec2.Client {
	cfg := n.AWSConfig(c)
	cfg.Region = region
	return ec2.NewFromConfig(cfg)
}

// EBSIn returns an EBS direct API client of this node in region.
func (n *Node) EBSIn(c Credentials, region string) *ebs.Client {
	cfg := n.AWSConfig(c)
	cfg.Region = region
	return ebs.NewFromConfig(cfg)
}
