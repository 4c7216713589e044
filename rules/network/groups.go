package network

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"github.com/openami/openami"
	"github.com/openami/openami/internal/filter"
	"github.com/openami/openami/internal/ids"
	"github.com/openami/openami/internal/tagset"
	"github.com/openami/openami/metadata"
	"github.com/openami/openami/rules/describe"
)

// GroupView is a security group with its tags, as DescribeSecurityGroups
// returns it.
type GroupView struct {
	openami.SecurityGroup
	Tags []openami.Tag
}

// CreateSecurityGroupInput is what CreateSecurityGroup takes.
type CreateSecurityGroupInput struct {
	Name, Description string
	// VpcID is the group's VPC; "" means the default VPC.
	VpcID string
	// Tags are the TagSpecifications' tags of the "security-group" type.
	Tags []openami.Tag
}

// checkGroupName checks a group's name: 1 to 255 characters of the set
// a description may use, not starting with "sg-" (which would read as an
// id).
func checkGroupName(name string) error {
	if name == "" {
		return openami.Errorf(openami.MissingParameter, "", "The request must contain the parameter groupName")
	}
	if len(name) > 255 {
		return openami.Errorf(openami.InvalidParameter, "", "Invalid security group name: it may be at most 255 characters long.")
	}
	if strings.HasPrefix(strings.ToLower(name), "sg-") {
		return openami.Errorf(openami.InvalidParameter, "", "Group names may not be in the format sg-*.")
	}
	if err := checkDescription(name); err != nil {
		return openami.Errorf(openami.InvalidParameter, "", "Invalid security group name %q: the characters allowed are a-z, A-Z, 0-9, spaces and ._-:/()#,@[]+=&;{}!$*.", name)
	}
	return nil
}

// CreateSecurityGroup makes a security group in a VPC of the caller's (the
// default VPC when none is named). Its name must be unique in the VPC
// (Duplicate: InvalidGroup.Duplicate) and may not be "default"; its
// description is required. As on AWS, it starts with one rule: egress
// of all traffic to 0.0.0.0/0.
func (n *Networks) CreateSecurityGroup(ctx context.Context, p openami.Principal, in CreateSecurityGroupInput) (GroupView, error) {
	if err := checkGroupName(in.Name); err != nil {
		return GroupView{}, err
	}
	if in.Description == "" {
		return GroupView{}, openami.Errorf(openami.MissingParameter, "", "The request must contain the parameter groupDescription")
	}
	if err := checkDescription(in.Description); err != nil {
		return GroupView{}, err
	}
	if err := tagset.Validate(in.Tags); err != nil {
		return GroupView{}, err
	}
	if in.VpcID == "" {
		in.VpcID = defaultVPCID(p)
	}
	if in.Name == "default" {
		return GroupView{}, openami.Errorf(openami.Duplicate, openami.ResourceSecurityGroup, "The security group 'default' already exists for VPC '%s'", in.VpcID)
	}
	id := ids.New("sg")
	g := openami.SecurityGroup{ID: id, Region: p.Region, AccountID: p.AccountID, VpcID: in.VpcID, Name: in.Name,
		Description: in.Description, Rules: []openami.SecurityGroupRule{
			{ID: ids.New("sgr"), Egress: true, Protocol: openami.ProtocolAll, FromPort: -1, ToPort: -1, CIDR: "0.0.0.0/0"},
		}}
	err := n.store.Update(ctx, func(tx metadata.Tx) error {
		if err := n.defaults(tx, p); err != nil {
			return err
		}
		if _, err := n.vpcOf(tx, p, in.VpcID); err != nil {
			return err
		}
		if err := tx.Networks().CreateGroup(g); err != nil {
			return err
		}
		return setTags(tx, p, g.ID, openami.ResourceSecurityGroup, in.Tags)
	})
	if err != nil {
		return GroupView{}, err
	}
	return GroupView{SecurityGroup: g, Tags: tagset.Sorted(in.Tags)}, nil
}

// targetGroup returns the group an action names: by id, or by name in
// the default VPC, as EC2 resolves GroupName.
func (n *Networks) targetGroup(tx metadata.Tx, p openami.Principal, id, name string) (openami.SecurityGroup, error) {
	switch {
	case id != "":
		return n.groupOf(tx, p, id)
	case name != "":
		return n.groupNamed(tx, p, defaultVPCID(p), name)
	}
	return openami.SecurityGroup{}, openami.Errorf(openami.MissingParameter, "", "The request must contain the parameter groupName or groupId")
}

// DeleteSecurityGroup deletes a security group of the caller's, named by
// id or (in the default VPC) by name, with its tags and its rules' tags.
// A VPC's default group cannot be deleted (ReasonDefault: CannotDelete);
// a group that an instance that is not terminated belongs to, or that a
// rule of another group references, is InUse (DependencyViolation).
// Nothing changes when it is refused.
func (n *Networks) DeleteSecurityGroup(ctx context.Context, p openami.Principal, id, name string) error {
	return n.store.Update(ctx, func(tx metadata.Tx) error {
		if err := n.defaults(tx, p); err != nil {
			return err
		}
		g, err := n.targetGroup(tx, p, id, name)
		if err != nil {
			return err
		}
		if g.Name == "default" {
			return openami.ReasonErrorf(openami.Unauthorized, openami.ResourceSecurityGroup, openami.ReasonDefault, "the specified group: \"%s\" name: \"default\" cannot be deleted by a user", g.ID)
		}
		live, err := n.instances(tx, p.Region, p.AccountID)
		if err != nil {
			return err
		}
		for _, i := range live {
			if slices.Contains(i.SecurityGroupIDs, g.ID) {
				return openami.Errorf(openami.InUse, openami.ResourceSecurityGroup, "resource %s has a dependent object: instance %s", g.ID, i.ID)
			}
		}
		others, err := tx.Networks().ListGroups(p.Region, metadata.NetworkQuery{AccountID: p.AccountID, VpcID: g.VpcID})
		if err != nil {
			return err
		}
		for _, o := range others {
			if o.ID == g.ID {
				continue
			}
			for _, r := range o.Rules {
				if r.GroupID == g.ID {
					return openami.Errorf(openami.InUse, openami.ResourceSecurityGroup, "resource %s has a dependent object: a rule of group %s", g.ID, o.ID)
				}
			}
		}
		if err := tx.Networks().DeleteGroup(p.Region, g.ID); err != nil {
			return err
		}
		for _, r := range g.Rules {
			if err := tx.Tags().DeleteAll(p.Region, p.AccountID, r.ID); err != nil {
				return err
			}
		}
		return tx.Tags().DeleteAll(p.Region, p.AccountID, g.ID)
	})
}

// The attributes of a security group that DescribeSecurityGroups' filters
// test (see filter.Attr; api/ec2/filters.go maps EC2's filter names onto
// them). The Ingress and Egress ones test the group's rules of that
// direction.
const (
	AttrGroupDescription filter.Attr = "groupDescription"
	AttrGroupID          filter.Attr = "groupID"
	AttrGroupName        filter.Attr = "groupName"
	AttrGroupOwnerID     filter.Attr = "groupOwnerID"
	AttrGroupVpcID       filter.Attr = "groupVpcID"

	AttrGroupIngressCIDR     filter.Attr = "groupIngressCIDR"
	AttrGroupIngressIPv6CIDR filter.Attr = "groupIngressIPv6CIDR"
	AttrGroupIngressFromPort filter.Attr = "groupIngressFromPort"
	AttrGroupIngressToPort   filter.Attr = "groupIngressToPort"
	AttrGroupIngressProtocol filter.Attr = "groupIngressProtocol"
	AttrGroupIngressGroupID  filter.Attr = "groupIngressGroupID"
	AttrGroupEgressCIDR      filter.Attr = "groupEgressCIDR"
	AttrGroupEgressIPv6CIDR  filter.Attr = "groupEgressIPv6CIDR"
	AttrGroupEgressFromPort  filter.Attr = "groupEgressFromPort"
	AttrGroupEgressToPort    filter.Attr = "groupEgressToPort"
	AttrGroupEgressProtocol  filter.Attr = "groupEgressProtocol"
	AttrGroupEgressGroupID   filter.Attr = "groupEgressGroupID"
)

// SecurityGroupAttrs are the attributes DescribeSecurityGroups filters
// by. Read-only.
var SecurityGroupAttrs = []filter.Attr{
	AttrGroupDescription, AttrGroupID, AttrGroupName, AttrGroupOwnerID, AttrGroupVpcID,
	AttrGroupIngressCIDR, AttrGroupIngressIPv6CIDR, AttrGroupIngressFromPort, AttrGroupIngressToPort,
	AttrGroupIngressProtocol, AttrGroupIngressGroupID,
	AttrGroupEgressCIDR, AttrGroupEgressIPv6CIDR, AttrGroupEgressFromPort, AttrGroupEgressToPort,
	AttrGroupEgressProtocol, AttrGroupEgressGroupID,
}

func groupAttr(g openami.SecurityGroup, name filter.Attr) []string {
	switch name {
	case AttrGroupDescription:
		return []string{g.Description}
	case AttrGroupID:
		return []string{g.ID}
	case AttrGroupName:
		return []string{g.Name}
	case AttrGroupOwnerID:
		return []string{g.AccountID}
	case AttrGroupVpcID:
		return []string{g.VpcID}
	}
	egress := slices.Contains([]filter.Attr{AttrGroupEgressCIDR, AttrGroupEgressIPv6CIDR, AttrGroupEgressFromPort,
		AttrGroupEgressToPort, AttrGroupEgressProtocol, AttrGroupEgressGroupID}, name)
	var out []string
	for _, r := range g.Rules {
		if r.Egress != egress {
			continue
		}
		var v string
		switch name {
		case AttrGroupIngressCIDR, AttrGroupEgressCIDR:
			v = r.CIDR
		case AttrGroupIngressIPv6CIDR, AttrGroupEgressIPv6CIDR:
			v = r.IPv6CIDR
		case AttrGroupIngressFromPort, AttrGroupEgressFromPort:
			v = strconv.Itoa(r.FromPort)
		case AttrGroupIngressToPort, AttrGroupEgressToPort:
			v = strconv.Itoa(r.ToPort)
		case AttrGroupIngressProtocol, AttrGroupEgressProtocol:
			v = r.Protocol
		case AttrGroupIngressGroupID, AttrGroupEgressGroupID:
			v = r.GroupID
		}
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

// DescribeSecurityGroups returns a page of the caller's security groups
// in the region, all or those named by id or by name (names are looked up
// in the default VPC, as on EC2; an unknown one is NotFound), that match
// the filters.
func (n *Networks) DescribeSecurityGroups(ctx context.Context, p openami.Principal, groupIDs, groupNames []string, filters []filter.Filter, pg Page) ([]GroupView, string, error) {
	wanted := slices.Clone(groupIDs)
	if len(groupNames) > 0 {
		if err := describe.CheckIDs(openami.ResourceSecurityGroup, groupNames, pg); err != nil {
			return nil, "", err
		}
		if err := n.ensureDefaults(ctx, p); err != nil {
			return nil, "", err
		}
		err := n.store.View(ctx, func(tx metadata.Tx) error {
			for _, name := range groupNames {
				g, err := n.groupNamed(tx, p, defaultVPCID(p), name)
				if err != nil {
					return err
				}
				wanted = append(wanted, g.ID)
			}
			return nil
		})
		if err != nil {
			return nil, "", err
		}
	}
	return describeTagged(ctx, n, p, "DescribeSecurityGroups", openami.ResourceSecurityGroup, describe.NotFound{One: "The security group '%s' does not exist", Many: "The security groups '%s' do not exist"},
		wanted, filters, SecurityGroupAttrs, pg,
		func(tx metadata.Tx, q metadata.NetworkQuery) ([]openami.SecurityGroup, error) {
			return tx.Networks().ListGroups(p.Region, q)
		},
		func(g openami.SecurityGroup) string { return g.ID }, groupAttr,
		func(g openami.SecurityGroup, tags []openami.Tag) GroupView {
			return GroupView{SecurityGroup: g, Tags: tags}
		})
}

// AuthorizeInput is what AuthorizeSecurityGroupIngress and
// AuthorizeSecurityGroupEgress take.
type AuthorizeInput struct {
	// GroupID or GroupName (in the default VPC) names the group.
	GroupID, GroupName string
	Egress             bool
	Permissions        []Permission
	// Tags are the TagSpecifications' tags of the "security-group-rule"
	// type, given to every rule made.
	Tags []openami.Tag
}

// Authorize adds rules to a security group of the caller's: one per CIDR
// block and referenced group of each permission (expand checks them). A
// rule the group has already, or that the request repeats, is Duplicate
// (InvalidPermission.Duplicate); more than 60 rules in a direction is
// LimitExceeded. Nothing changes on any error. It returns the rules made,
// with their new sgr- ids.
func (n *Networks) Authorize(ctx context.Context, p openami.Principal, in AuthorizeInput) ([]RuleView, error) {
	if err := tagset.Validate(in.Tags); err != nil {
		return nil, err
	}
	var made []RuleView
	err := n.store.Update(ctx, func(tx metadata.Tx) error {
		made = nil
		if err := n.defaults(tx, p); err != nil {
			return err
		}
		g, err := n.targetGroup(tx, p, in.GroupID, in.GroupName)
		if err != nil {
			return err
		}
		rules, err := n.expand(tx, p, g, in.Egress, in.Permissions)
		if err != nil {
			return err
		}
		count := 0
		for _, r := range g.Rules {
			if r.Egress == in.Egress {
				count++
			}
		}
		for _, r := range rules {
			if slices.ContainsFunc(g.Rules, func(o openami.SecurityGroupRule) bool { return sameRule(o, r) }) {
				return openami.Errorf(openami.Duplicate, openami.ResourceSecurityGroupRule, "the specified rule \"%s\" already exists", describeRule(r))
			}
			if count++; count > maxRulesPerDirection {
				return openami.Errorf(openami.LimitExceeded, openami.ResourceSecurityGroupRule, "The maximum number of rules per security group has been reached.")
			}
			r.ID = ids.New("sgr")
			g.Rules = append(g.Rules, r)
			made = append(made, RuleView{SecurityGroupRule: r, GroupID: g.ID, AccountID: g.AccountID, Tags: tagset.Sorted(in.Tags)})
			if err := setTags(tx, p, r.ID, openami.ResourceSecurityGroupRule, in.Tags); err != nil {
				return err
			}
		}
		return tx.Networks().UpdateGroup(g)
	})
	return made, err
}

// RevokeInput is what RevokeSecurityGroupIngress and
// RevokeSecurityGroupEgress take: permissions, or rule ids, or both.
type RevokeInput struct {
	GroupID, GroupName string
	Egress             bool
	Permissions        []Permission
	RuleIDs            []string
}

// Revoke removes rules from a security group of the caller's: those
// named by id (each must be one of the group's rules of that direction:
// NotFound with ReasonRuleID otherwise) and those the permissions
// describe. As EC2 does, a permission's rules the group does not have
// are returned as unknown while the others are revoked; when none of
// them exists, it is NotFound (InvalidPermission.NotFound) and nothing
// changes.
func (n *Networks) Revoke(ctx context.Context, p openami.Principal, in RevokeInput) (unknown []openami.SecurityGroupRule, err error) {
	if len(in.Permissions) == 0 && len(in.RuleIDs) == 0 {
		return nil, openami.Errorf(openami.MissingParameter, "", "The request must contain the parameter ipPermissions or securityGroupRuleIds")
	}
	err = n.store.Update(ctx, func(tx metadata.Tx) error {
		unknown = nil
		if err := n.defaults(tx, p); err != nil {
			return err
		}
		g, err := n.targetGroup(tx, p, in.GroupID, in.GroupName)
		if err != nil {
			return err
		}
		gone := map[string]bool{}
		for _, id := range in.RuleIDs {
			k := slices.IndexFunc(g.Rules, func(r openami.SecurityGroupRule) bool { return r.ID == id && r.Egress == in.Egress })
			if k < 0 {
				return openami.ReasonErrorf(openami.NotFound, openami.ResourceSecurityGroupRule, openami.ReasonRuleID, "The security group rule ID '%s' does not exist", id)
			}
			gone[id] = true
		}
		if len(in.Permissions) > 0 {
			rules, err := n.expand(tx, p, g, in.Egress, in.Permissions)
			if err != nil {
				return err
			}
			for _, r := range rules {
				k := slices.IndexFunc(g.Rules, func(o openami.SecurityGroupRule) bool { return sameRule(o, r) })
				if k < 0 {
					unknown = append(unknown, r)
					continue
				}
				gone[g.Rules[k].ID] = true
			}
			if len(gone) == 0 {
				return openami.Errorf(openami.NotFound, openami.ResourceSecurityGroupRule, "The specified rule does not exist in this security group.")
			}
		}
		kept := g.Rules[:0:0]
		for _, r := range g.Rules {
			if !gone[r.ID] {
				kept = append(kept, r)
				continue
			}
			if err := tx.Tags().DeleteAll(p.Region, p.AccountID, r.ID); err != nil {
				return err
			}
		}
		g.Rules = kept
		return tx.Networks().UpdateGroup(g)
	})
	return unknown, err
}

// RuleView is one security group rule as DescribeSecurityGroupRules
// returns it: with its group, owner and tags.
type RuleView struct {
	openami.SecurityGroupRule
	GroupID   string
	AccountID string
	Tags      []openami.Tag
}

// The attributes of a security group rule that DescribeSecurityGroupRules'
// filters test.
const (
	AttrRuleGroupID filter.Attr = "ruleGroupID"
	AttrRuleID      filter.Attr = "ruleID"
)

// RuleAttrs are the attributes DescribeSecurityGroupRules filters by.
// Read-only.
var RuleAttrs = []filter.Attr{AttrRuleGroupID, AttrRuleID}

// DescribeSecurityGroupRules returns a page of the rules of the caller's
// security groups in the region, in rule id order: all, or those named
// (an unknown id is NotFound with ReasonRuleID), that match the filters.
func (n *Networks) DescribeSecurityGroupRules(ctx context.Context, p openami.Principal, ruleIDs []string, filters []filter.Filter, pg Page) ([]RuleView, string, error) {
	fs, err := n.describeStart(ctx, p, openami.ResourceSecurityGroupRule, ruleIDs, filters, RuleAttrs, pg)
	if err != nil {
		return nil, "", err
	}
	// all lists the rules after an id, in id order.
	all := func(tx metadata.Tx, after string, limit int) ([]RuleView, error) {
		groups, err := tx.Networks().ListGroups(p.Region, metadata.NetworkQuery{AccountID: p.AccountID})
		if err != nil {
			return nil, err
		}
		var out []RuleView
		for _, g := range groups {
			for _, r := range g.Rules {
				if r.ID > after && (len(ruleIDs) == 0 || slices.Contains(ruleIDs, r.ID)) {
					out = append(out, RuleView{SecurityGroupRule: r, GroupID: g.ID, AccountID: g.AccountID})
				}
			}
		}
		slices.SortFunc(out, func(a, b RuleView) int { return strings.Compare(a.ID, b.ID) })
		if limit > 0 && len(out) > limit {
			out = out[:limit]
		}
		return out, nil
	}
	if len(ruleIDs) > 0 {
		var found []RuleView
		if err := n.store.View(ctx, func(tx metadata.Tx) error {
			var err error
			found, err = all(tx, "", 0)
			return err
		}); err != nil {
			return nil, "", err
		}
		if missing := describe.Missing(ruleIDs, found, func(r RuleView) string { return r.ID }); len(missing) > 0 {
			return nil, "", openami.ReasonErrorf(openami.NotFound, openami.ResourceSecurityGroupRule, openami.ReasonRuleID, "%s",
				describe.NotFound{One: "The security group rule ID '%s' does not exist", Many: "The security group rule IDs '%s' do not exist"}.Sentence(missing))
		}
	}
	scope := describe.Scope("DescribeSecurityGroupRules", p, filters, strings.Join(ruleIDs, ","))
	list, tags, next, err := describe.Tagged(ctx, n.store, n.tokens, p, scope, pg, describe.Bounds{Min: 5, Max: 1000}, all,
		func(r RuleView) string { return r.ID },
		func(r RuleView, tags map[string]string) bool {
			return fs.Match(func(name filter.Attr) []string {
				switch name {
				case AttrRuleGroupID:
					return []string{r.GroupID}
				case AttrRuleID:
					return []string{r.ID}
				}
				return nil
			}, tags)
		})
	if err != nil {
		return nil, "", err
	}
	for i := range list {
		list[i].Tags = tags[list[i].ID]
	}
	return list, next, nil
}

// RuleUpdate is one rule of ModifySecurityGroupRules: the rule's id and
// what it is to allow from now on (one CIDR block, IPv6 block or group).
type RuleUpdate struct {
	RuleID           string
	Protocol         string
	FromPort, ToPort *int
	CIDR, IPv6CIDR   string
	GroupID          string
	Description      string
}

// ModifySecurityGroupRules replaces rules of a security group of the
// caller's, keeping their ids and directions. Each id must be one of the
// group's rules (NotFound with ReasonRuleID); each new rule is checked as
// Authorize checks it and must not duplicate another rule of the group.
// Nothing changes on any error.
func (n *Networks) ModifySecurityGroupRules(ctx context.Context, p openami.Principal, groupID string, updates []RuleUpdate) error {
	if groupID == "" {
		return openami.Errorf(openami.MissingParameter, "", "The request must contain the parameter GroupId")
	}
	if len(updates) == 0 {
		return openami.Errorf(openami.MissingParameter, "", "The request must contain the parameter SecurityGroupRule")
	}
	return n.store.Update(ctx, func(tx metadata.Tx) error {
		if err := n.defaults(tx, p); err != nil {
			return err
		}
		g, err := n.groupOf(tx, p, groupID)
		if err != nil {
			return err
		}
		for _, u := range updates {
			k := slices.IndexFunc(g.Rules, func(r openami.SecurityGroupRule) bool { return r.ID == u.RuleID })
			if k < 0 {
				return openami.ReasonErrorf(openami.NotFound, openami.ResourceSecurityGroupRule, openami.ReasonRuleID, "The security group rule ID '%s' does not exist", u.RuleID)
			}
			pm := Permission{Protocol: u.Protocol, FromPort: u.FromPort, ToPort: u.ToPort}
			switch {
			case u.CIDR != "":
				pm.IPRanges = []Range{{u.CIDR, u.Description}}
			case u.IPv6CIDR != "":
				pm.IPv6Ranges = []Range{{u.IPv6CIDR, u.Description}}
			case u.GroupID != "":
				pm.Groups = []GroupPair{{GroupID: u.GroupID, Description: u.Description}}
			}
			rules, err := n.expand(tx, p, g, g.Rules[k].Egress, []Permission{pm})
			if err != nil {
				return err
			}
			if len(rules) != 1 {
				return openami.Errorf(openami.InvalidParameter, "", "A security group rule allows exactly one CIDR block or security group.")
			}
			r := rules[0]
			r.ID = u.RuleID
			if slices.ContainsFunc(g.Rules, func(o openami.SecurityGroupRule) bool { return o.ID != r.ID && sameRule(o, r) }) {
				return openami.Errorf(openami.Duplicate, openami.ResourceSecurityGroupRule, "the specified rule \"%s\" already exists", describeRule(r))
			}
			g.Rules[k] = r
		}
		return tx.Networks().UpdateGroup(g)
	})
}
