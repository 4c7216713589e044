package ec2

import (
	"github.com/openami/openami"
	"github.com/openami/openami/internal/tagset"
	"github.com/openami/openami/rules/network"
)

// Security groups: CreateSecurityGroup, DeleteSecurityGroup,
// DescribeSecurityGroups, AuthorizeSecurityGroupIngress/Egress,
// RevokeSecurityGroupIngress/Egress, DescribeSecurityGroupRules and
// ModifySecurityGroupRules (rules/network).

// ipPermissionParam is an IpPermissions.N of a request.
type ipPermissionParam struct {
	IPProtocol string `query:"IpProtocol"`
	FromPort   *int   `query:"FromPort"`
	ToPort     *int   `query:"ToPort"`
	IPRanges   []struct {
		CidrIP      string `query:"CidrIp"`
		Description string `query:"Description"`
	} `query:"IpRanges"`
	IPv6Ranges []struct {
		CidrIPv6    string `query:"CidrIpv6"`
		Description string `query:"Description"`
	} `query:"Ipv6Ranges"`
	Groups []struct {
		GroupID     string `query:"GroupId"`
		GroupName   string `query:"GroupName"`
		UserID      string `query:"UserId"`
		Description string `query:"Description"`
	} `query:"Groups"`
	PrefixListIDs []struct {
		PrefixListID string `query:"PrefixListId"`
	} `query:"PrefixListIds"`
}

// permissionsInput is what Authorize and Revoke, ingress and egress,
// share: the group, its IpPermissions, and the older flat form the CLI's
// --protocol/--port/--cidr/--source-group send.
type permissionsInput struct {
	dryRunParam
	GroupID                    string              `query:"GroupId"`
	GroupName                  string              `query:"GroupName"`
	IPPermissions              []ipPermissionParam `query:"IpPermissions"`
	IPProtocol                 string              `query:"IpProtocol"`
	FromPort                   *int                `query:"FromPort"`
	ToPort                     *int                `query:"ToPort"`
	CidrIP                     string              `query:"CidrIp"`
	SourceSecurityGroupName    string              `query:"SourceSecurityGroupName"`
	SourceSecurityGroupOwnerID string              `query:"SourceSecurityGroupOwnerId"`
	TagSpecifications          []tagSpecParam      `query:"TagSpecification"`
	SecurityGroupRuleIDs       []string            `query:"SecurityGroupRuleId"`
}

// permissions returns the request's permissions in the rules' terms:
// IpPermissions, or the one permission of the flat form (not both).
func (in *permissionsInput) permissions() ([]network.Permission, error) {
	flat := in.IPProtocol != "" || in.FromPort != nil || in.ToPort != nil || in.CidrIP != "" || in.SourceSecurityGroupName != ""
	if flat && len(in.IPPermissions) > 0 {
		return nil, openami.Errorf(openami.InvalidCombination, "", "The parameter 'ipPermissions' may not be used in combination with 'ipProtocol', 'fromPort', 'toPort', 'cidrIp' or 'sourceSecurityGroupName'.")
	}
	if flat {
		pm := network.Permission{Protocol: in.IPProtocol, FromPort: in.FromPort, ToPort: in.ToPort}
		if in.CidrIP != "" {
			pm.IPRanges = []network.Range{{CIDR: in.CidrIP}}
		}
		if in.SourceSecurityGroupName != "" {
			pm.Groups = []network.GroupPair{{GroupName: in.SourceSecurityGroupName, UserID: in.SourceSecurityGroupOwnerID}}
			if pm.Protocol == "" {
				// The flat form with only a source group allows all
				// traffic from it, as on EC2.
				pm.Protocol = "-1"
			}
		}
		return []network.Permission{pm}, nil
	}
	out := make([]network.Permission, len(in.IPPermissions))
	for i, p := range in.IPPermissions {
		if len(p.PrefixListIDs) > 0 {
			return nil, openami.Errorf(openami.Unsupported, "", "Prefix lists are not supported.")
		}
		pm := network.Permission{Protocol: p.IPProtocol, FromPort: p.FromPort, ToPort: p.ToPort}
		for _, r := range p.IPRanges {
			pm.IPRanges = append(pm.IPRanges, network.Range{CIDR: r.CidrIP, Description: r.Description})
		}
		for _, r := range p.IPv6Ranges {
			pm.IPv6Ranges = append(pm.IPv6Ranges, network.Range{CIDR: r.CidrIPv6, Description: r.Description})
		}
		for _, g := range p.Groups {
			pm.Groups = append(pm.Groups, network.GroupPair{GroupID: g.GroupID, GroupName: g.GroupName, UserID: g.UserID, Description: g.Description})
		}
		out[i] = pm
	}
	return out, nil
}

type ipRangeItem struct {
	CidrIP      string `xml:"cidrIp"`
	Description string `xml:"description,omitempty"`
}

type ipv6RangeItem struct {
	CidrIPv6    string `xml:"cidrIpv6"`
	Description string `xml:"description,omitempty"`
}

type userIDGroupPairItem struct {
	GroupID     string `xml:"groupId"`
	UserID      string `xml:"userId"`
	Description string `xml:"description,omitempty"`
}

type ipPermissionItem struct {
	IPProtocol    string                     `xml:"ipProtocol"`
	FromPort      *int                       `xml:"fromPort"`
	ToPort        *int                       `xml:"toPort"`
	Groups        items[userIDGroupPairItem] `xml:"groups"`
	IPRanges      items[ipRangeItem]         `xml:"ipRanges"`
	IPv6Ranges    items[ipv6RangeItem]       `xml:"ipv6Ranges"`
	PrefixListIDs items[prefixListItem]      `xml:"prefixListIds"`
}

type prefixListItem struct {
	PrefixListID string `xml:"prefixListId"`
}

// portsOf returns a rule's ports as EC2 shows them: none for a protocol
// that has no ports (-1, -1 of all traffic or a protocol number).
func portsOf(r openami.SecurityGroupRule) (from, to *int) {
	switch r.Protocol {
	case openami.ProtocolTCP, openami.ProtocolUDP, openami.ProtocolICMP:
		f, t := r.FromPort, r.ToPort
		return &f, &t
	}
	return nil, nil
}

// ipPermissions groups a group's rules of one direction into EC2's
// IpPermissions: one per protocol and port range, in the order of the
// rules.
func ipPermissions(rules []openami.SecurityGroupRule, egress bool) items[ipPermissionItem] {
	out := items[ipPermissionItem]{}
	type key struct {
		proto    string
		from, to int
	}
	at := map[key]int{}
	for _, r := range rules {
		if r.Egress != egress {
			continue
		}
		k := key{r.Protocol, r.FromPort, r.ToPort}
		i, ok := at[k]
		if !ok {
			i = len(out)
			at[k] = i
			from, to := portsOf(r)
			out = append(out, ipPermissionItem{IPProtocol: r.Protocol, FromPort: from, ToPort: to, Groups: items[userIDGroupPairItem]{},
				IPRanges: items[ipRangeItem]{}, IPv6Ranges: items[ipv6RangeItem]{}, PrefixListIDs: items[prefixListItem]{}})
		}
		switch {
		case r.CIDR != "":
			out[i].IPRanges = append(out[i].IPRanges, ipRangeItem{r.CIDR, r.Description})
		case r.IPv6CIDR != "":
			out[i].IPv6Ranges = append(out[i].IPv6Ranges, ipv6RangeItem{r.IPv6CIDR, r.Description})
		case r.GroupID != "":
			out[i].Groups = append(out[i].Groups, userIDGroupPairItem{GroupID: r.GroupID, Description: r.Description})
		}
	}
	return out
}

type createSecurityGroupInput struct {
	dryRunParam
	GroupName         string         `query:"GroupName"`
	GroupDescription  string         `query:"GroupDescription"`
	VpcID             string         `query:"VpcId"`
	TagSpecifications []tagSpecParam `query:"TagSpecification"`
}

type createSecurityGroupResponse struct {
	response
	Return           bool           `xml:"return"`
	GroupID          string         `xml:"groupId"`
	Tags             items[tagItem] `xml:"tagSet,omitempty"` // omitted when untagged, as EC2 does
	SecurityGroupArn string         `xml:"securityGroupArn"`
}

func groupArn(region, account, id string) string {
	return "arn:aws:ec2:" + region + ":" + account + ":security-group/" + id
}

func (h *Handler) createSecurityGroup(c *call) (responder, error) {
	var in createSecurityGroupInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	tags, err := tagset.For(tagSpecs(in.TagSpecifications), openami.ResourceSecurityGroup, openami.ResourceSecurityGroup)
	if err != nil {
		return nil, err
	}
	g, err := h.network.CreateSecurityGroup(c.ctx, c.p, network.CreateSecurityGroupInput{Name: in.GroupName,
		Description: in.GroupDescription, VpcID: in.VpcID, Tags: tags})
	if err != nil {
		return nil, err
	}
	return &createSecurityGroupResponse{Return: true, GroupID: g.ID, Tags: tagSet(g.Tags),
		SecurityGroupArn: groupArn(c.p.Region, g.AccountID, g.ID)}, nil
}

type deleteSecurityGroupInput struct {
	dryRunParam
	GroupID   string `query:"GroupId"`
	GroupName string `query:"GroupName"`
}

type deleteSecurityGroupResponse struct {
	response
	Return  bool   `xml:"return"`
	GroupID string `xml:"groupId"`
}

func (h *Handler) deleteSecurityGroup(c *call) (responder, error) {
	var in deleteSecurityGroupInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	if err := h.network.DeleteSecurityGroup(c.ctx, c.p, in.GroupID, in.GroupName); err != nil {
		return nil, err
	}
	return &deleteSecurityGroupResponse{Return: true, GroupID: in.GroupID}, nil
}

type describeSecurityGroupsInput struct {
	dryRunParam
	GroupIDs   []string      `query:"GroupId"`
	GroupNames []string      `query:"GroupName"`
	Filters    []filterParam `query:"Filter"`
	MaxResults int           `query:"MaxResults"`
	NextToken  string        `query:"NextToken"`
}

type securityGroupItem struct {
	OwnerID             string                  `xml:"ownerId"`
	GroupID             string                  `xml:"groupId"`
	GroupName           string                  `xml:"groupName"`
	GroupDescription    string                  `xml:"groupDescription"`
	VpcID               string                  `xml:"vpcId"`
	SecurityGroupArn    string                  `xml:"securityGroupArn"`
	IPPermissions       items[ipPermissionItem] `xml:"ipPermissions"`
	IPPermissionsEgress items[ipPermissionItem] `xml:"ipPermissionsEgress"`
	Tags                items[tagItem]          `xml:"tagSet"`
}

type describeSecurityGroupsResponse struct {
	response
	Groups    items[securityGroupItem] `xml:"securityGroupInfo"`
	NextToken string                   `xml:"nextToken,omitempty"`
}

func (h *Handler) describeSecurityGroups(c *call) (responder, error) {
	var in describeSecurityGroupsInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	fs, err := filtersOf(in.Filters, securityGroupFilterNames)
	if err != nil {
		return nil, err
	}
	groups, next, err := h.network.DescribeSecurityGroups(c.ctx, c.p, in.GroupIDs, in.GroupNames, fs, network.Page{MaxResults: in.MaxResults, NextToken: in.NextToken})
	if err != nil {
		return nil, err
	}
	out := &describeSecurityGroupsResponse{Groups: items[securityGroupItem]{}, NextToken: next}
	for _, g := range groups {
		item := securityGroupItem{OwnerID: g.AccountID, GroupID: g.ID, GroupName: g.Name,
			GroupDescription: g.Description, VpcID: g.VpcID, SecurityGroupArn: groupArn(c.p.Region, g.AccountID, g.ID),
			IPPermissions: ipPermissions(g.Rules, false), IPPermissionsEgress: ipPermissions(g.Rules, true), Tags: tagSet(g.Tags)}
		for _, list := range []items[ipPermissionItem]{item.IPPermissions, item.IPPermissionsEgress} {
			for _, pm := range list {
				for k := range pm.Groups {
					pm.Groups[k].UserID = g.AccountID
				}
			}
		}
		out.Groups = append(out.Groups, item)
	}
	return out, nil
}

// securityGroupRuleItem is a SecurityGroupRule as EC2 returns it.
type securityGroupRuleItem struct {
	SecurityGroupRuleID  string               `xml:"securityGroupRuleId"`
	GroupID              string               `xml:"groupId"`
	GroupOwnerID         string               `xml:"groupOwnerId"`
	IsEgress             bool                 `xml:"isEgress"`
	IPProtocol           string               `xml:"ipProtocol"`
	FromPort             int                  `xml:"fromPort"`
	ToPort               int                  `xml:"toPort"`
	CidrIPv4             string               `xml:"cidrIpv4,omitempty"`
	CidrIPv6             string               `xml:"cidrIpv6,omitempty"`
	ReferencedGroupInfo  *referencedGroupItem `xml:"referencedGroupInfo"`
	Description          string               `xml:"description,omitempty"`
	Tags                 items[tagItem]       `xml:"tagSet"`
	SecurityGroupRuleArn string               `xml:"securityGroupRuleArn"`
}

// referencedGroupItem is a rule's referencedGroupInfo. It leaves the
// userId out: a rule references a group of its own account only, and
// Terraform's provider, which does not learn the account id when told to
// skip_requesting_account_id, would read any userId as another account's
// and plan a change on every run.
type referencedGroupItem struct {
	GroupID string `xml:"groupId"`
}

func ruleOf(region, account, groupID string, r openami.SecurityGroupRule, tags []openami.Tag) securityGroupRuleItem {
	out := securityGroupRuleItem{SecurityGroupRuleID: r.ID, GroupID: groupID, GroupOwnerID: account, IsEgress: r.Egress,
		IPProtocol: r.Protocol, FromPort: r.FromPort, ToPort: r.ToPort, CidrIPv4: r.CIDR, CidrIPv6: r.IPv6CIDR,
		Description: r.Description, Tags: tagSet(tags),
		SecurityGroupRuleArn: "arn:aws:ec2:" + region + ":" + account + ":security-group-rule/" + r.ID}
	if r.GroupID != "" {
		out.ReferencedGroupInfo = &referencedGroupItem{GroupID: r.GroupID}
	}
	return out
}

// ruleItems returns the items of rules, in the region (an empty set, not
// none, for no rules).
func ruleItems(region string, rules []network.RuleView) items[securityGroupRuleItem] {
	out := items[securityGroupRuleItem]{}
	for _, r := range rules {
		out = append(out, ruleOf(region, r.AccountID, r.GroupID, r.SecurityGroupRule, r.Tags))
	}
	return out
}

type authorizeResponse struct {
	response
	Return             bool                         `xml:"return"`
	SecurityGroupRules items[securityGroupRuleItem] `xml:"securityGroupRuleSet"`
}

// authorize is AuthorizeSecurityGroupIngress (egress false) and
// AuthorizeSecurityGroupEgress.
func (h *Handler) authorize(egress bool) action {
	return func(c *call) (responder, error) {
		var in permissionsInput
		if err := c.decode(&in); err != nil {
			return nil, err
		}
		if len(in.SecurityGroupRuleIDs) > 0 {
			return nil, openami.Errorf(openami.UnknownParameter, "", "The parameter SecurityGroupRuleId is not recognized")
		}
		perms, err := in.permissions()
		if err != nil {
			return nil, err
		}
		tags, err := tagset.For(tagSpecs(in.TagSpecifications), openami.ResourceSecurityGroupRule, openami.ResourceSecurityGroupRule)
		if err != nil {
			return nil, err
		}
		rules, err := h.network.Authorize(c.ctx, c.p, network.AuthorizeInput{GroupID: in.GroupID, GroupName: in.GroupName,
			Egress: egress, Permissions: perms, Tags: tags})
		if err != nil {
			return nil, err
		}
		return &authorizeResponse{Return: true, SecurityGroupRules: ruleItems(c.p.Region, rules)}, nil
	}
}

type revokeResponse struct {
	response
	Return               bool                     `xml:"return"`
	UnknownIPPermissions *items[ipPermissionItem] `xml:"unknownIpPermissionSet"`
}

// revoke is RevokeSecurityGroupIngress (egress false) and
// RevokeSecurityGroupEgress.
func (h *Handler) revoke(egress bool) action {
	return func(c *call) (responder, error) {
		var in permissionsInput
		if err := c.decode(&in); err != nil {
			return nil, err
		}
		if len(in.TagSpecifications) > 0 {
			return nil, openami.Errorf(openami.UnknownParameter, "", "The parameter TagSpecification is not recognized")
		}
		var perms []network.Permission
		if len(in.IPPermissions) > 0 || in.IPProtocol != "" || in.CidrIP != "" || in.SourceSecurityGroupName != "" || in.FromPort != nil || in.ToPort != nil {
			var err error
			if perms, err = in.permissions(); err != nil {
				return nil, err
			}
		}
		unknown, err := h.network.Revoke(c.ctx, c.p, network.RevokeInput{GroupID: in.GroupID, GroupName: in.GroupName,
			Egress: egress, Permissions: perms, RuleIDs: in.SecurityGroupRuleIDs})
		if err != nil {
			return nil, err
		}
		out := &revokeResponse{Return: true}
		if len(unknown) > 0 {
			u := ipPermissions(unknown, egress)
			out.UnknownIPPermissions = &u
		}
		return out, nil
	}
}

type describeSecurityGroupRulesInput struct {
	dryRunParam
	SecurityGroupRuleIDs []string      `query:"SecurityGroupRuleId"`
	Filters              []filterParam `query:"Filter"`
	MaxResults           int           `query:"MaxResults"`
	NextToken            string        `query:"NextToken"`
}

type describeSecurityGroupRulesResponse struct {
	response
	SecurityGroupRules items[securityGroupRuleItem] `xml:"securityGroupRuleSet"`
	NextToken          string                       `xml:"nextToken,omitempty"`
}

func (h *Handler) describeSecurityGroupRules(c *call) (responder, error) {
	var in describeSecurityGroupRulesInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	fs, err := filtersOf(in.Filters, securityGroupRuleFilterNames)
	if err != nil {
		return nil, err
	}
	rules, next, err := h.network.DescribeSecurityGroupRules(c.ctx, c.p, in.SecurityGroupRuleIDs, fs, network.Page{MaxResults: in.MaxResults, NextToken: in.NextToken})
	if err != nil {
		return nil, err
	}
	return &describeSecurityGroupRulesResponse{SecurityGroupRules: ruleItems(c.p.Region, rules), NextToken: next}, nil
}

type modifySecurityGroupRulesInput struct {
	dryRunParam
	GroupID            string `query:"GroupId,required"`
	SecurityGroupRules []struct {
		SecurityGroupRuleID string `query:"SecurityGroupRuleId"`
		SecurityGroupRule   struct {
			IPProtocol        string `query:"IpProtocol"`
			FromPort          *int   `query:"FromPort"`
			ToPort            *int   `query:"ToPort"`
			CidrIPv4          string `query:"CidrIpv4"`
			CidrIPv6          string `query:"CidrIpv6"`
			PrefixListID      string `query:"PrefixListId"`
			ReferencedGroupID string `query:"ReferencedGroupId"`
			Description       string `query:"Description"`
		} `query:"SecurityGroupRule"`
	} `query:"SecurityGroupRule"`
}

func (h *Handler) modifySecurityGroupRules(c *call) (responder, error) {
	var in modifySecurityGroupRulesInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	updates := make([]network.RuleUpdate, len(in.SecurityGroupRules))
	for i, u := range in.SecurityGroupRules {
		r := u.SecurityGroupRule
		if r.PrefixListID != "" {
			return nil, openami.Errorf(openami.Unsupported, "", "Prefix lists are not supported.")
		}
		updates[i] = network.RuleUpdate{RuleID: u.SecurityGroupRuleID, Protocol: r.IPProtocol, FromPort: r.FromPort, ToPort: r.ToPort,
			CIDR: r.CidrIPv4, IPv6CIDR: r.CidrIPv6, GroupID: r.ReferencedGroupID, Description: r.Description}
	}
	if err := h.network.ModifySecurityGroupRules(c.ctx, c.p, in.GroupID, updates); err != nil {
		return nil, err
	}
	return &returnResponse{Return: true}, nil
}
