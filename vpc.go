package openami

// VPC is a virtual private cloud: an account's private IPv4 network in a
// region, from which its subnets take their address ranges. Every account
// has a default VPC in every region (IsDefault, 172.31.0.0/16); others
// are made by CreateVpc.
type VPC struct {
	ID        string
	Region    string
	AccountID string
	// CIDR is the VPC's IPv4 range, between a /16 and a /28, in canonical
	// form (172.31.0.0/16).
	CIDR      string
	IsDefault bool
	// DNSSupport and DNSHostnames are the VPC's enableDnsSupport and
	// enableDnsHostnames attributes.
	DNSSupport   bool
	DNSHostnames bool
}

// Subnet is a range of a VPC's addresses in one availability zone, where
// instances are launched and take their private addresses. AWS reserves
// the first four addresses of a subnet and its last.
type Subnet struct {
	ID               string
	Region           string
	AccountID        string
	VpcID            string
	AvailabilityZone string
	// CIDR lies within the VPC's and overlaps none of its other subnets'.
	CIDR string
	// DefaultForAZ marks the default subnet of its zone in the default
	// VPC: where a launch that names no subnet goes.
	DefaultForAZ bool
	// MapPublicIPOnLaunch gives instances launched here a public address.
	MapPublicIPOnLaunch bool
}

// SecurityGroup is a stateful firewall of a VPC, applied to the instances
// that are members of it. Its name is unique within the VPC. Every VPC
// has a group named "default" that cannot be deleted.
type SecurityGroup struct {
	ID          string
	Region      string
	AccountID   string
	VpcID       string
	Name        string
	Description string
	// Rules are the group's ingress and egress rules, in the order they
	// were authorized.
	Rules []SecurityGroupRule
}

// SecurityGroupRule allows one protocol and port range from (ingress) or to
// (egress) one source or destination: an IPv4 CIDR, an IPv6 CIDR, or the
// members of a security group. It is EC2's security group rule (sgr-…);
// IpPermissions group such rules by protocol and ports.
type SecurityGroupRule struct {
	ID     string
	Egress bool
	// Protocol is "tcp", "udp", "icmp" or "-1" (all); numbers of other
	// IP protocols are kept as given (e.g. "47").
	Protocol string
	// FromPort and ToPort bound the ports (for ICMP: the type and code),
	// inclusive; -1 where the protocol takes no ports or any is allowed.
	FromPort, ToPort int
	// Exactly one of CIDR, IPv6CIDR and GroupID is set.
	CIDR     string
	IPv6CIDR string
	// GroupID names a security group of the same VPC whose members the
	// rule allows.
	GroupID     string
	Description string
}
