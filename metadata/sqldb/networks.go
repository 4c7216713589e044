package sqldb

import (
	"database/sql"
	"fmt"
	"strings"

	"github.com/go-json-experiment/json"

	"github.com/openami/openami"
	"github.com/openami/openami/metadata"
)

// networks keeps VPCs, subnets and security groups one row each: the
// columns listings select on and the whole record as JSON in doc (a
// security group's rules live in its doc).
type networks struct{ t *tx }

// netTable describes one of the three tables: its name, what its errors
// call a record, the resource type of its errors and the sentence of
// NotFound.
type netTable struct {
	name     string
	what     string
	resource openami.ResourceType
	notFound string
}

var (
	vpcTable    = netTable{"vpcs", "vpc", openami.ResourceVPC, "The vpc ID '%s' does not exist"}
	subnetTable = netTable{"subnets", "subnet", openami.ResourceSubnet, "The subnet ID '%s' does not exist"}
	groupTable  = netTable{"security_groups", "security group", openami.ResourceSecurityGroup, "The security group '%s' does not exist"}
)

func (nt netTable) missing(id string) error {
	return openami.Errorf(openami.NotFound, nt.resource, nt.notFound, id)
}

func encodeDoc(what, id string, v any) (string, error) {
	b, err := json.Marshal(v, json.OmitZeroStructFields(true), json.FormatNilSliceAsNull(true))
	if err != nil {
		return "", fmt.Errorf("sqldb: encode %s %s: %w", what, id, err)
	}
	return string(b), nil
}

// netList returns the records of table that q selects in region, decoded
// from their docs, in id order.
func netList[T any](n networks, nt netTable, region string, q metadata.NetworkQuery, vpcColumn bool) ([]T, error) {
	var b strings.Builder
	args := []any{region}
	b.WriteString(`SELECT doc FROM ` + nt.name + ` WHERE region = ?`)
	if q.AccountID != "" {
		b.WriteString(` AND account_id = ?`)
		args = append(args, q.AccountID)
	}
	if vpcColumn && q.VpcID != "" {
		b.WriteString(` AND vpc_id = ?`)
		args = append(args, q.VpcID)
	}
	if len(q.IDs) > 0 {
		b.WriteString(` AND id IN (` + placeholders(len(q.IDs)) + `)`)
		args = appendStrings(args, q.IDs)
	}
	if q.After != "" {
		b.WriteString(` AND id > ?`)
		args = append(args, q.After)
	}
	b.WriteString(` ORDER BY id`)
	query, args := limitClause(b.String(), args, q.Limit)
	out := []T{}
	err := n.t.each(query, args, func(r *sql.Rows) error {
		var doc []byte
		if err := r.Scan(&doc); err != nil {
			return err
		}
		var v T
		if err := json.Unmarshal(doc, &v); err != nil {
			return fmt.Errorf("decode %s row: %w", nt.name, err)
		}
		out = append(out, v)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqldb: list %s: %w", nt.name, err)
	}
	return out, nil
}

func netGet[T any](n networks, nt netTable, region, id string) (T, error) {
	var zero T
	list, err := netList[T](n, nt, region, metadata.NetworkQuery{IDs: []string{id}, Limit: 1}, false)
	if err != nil {
		return zero, err
	}
	if len(list) == 0 {
		return zero, nt.missing(id)
	}
	return list[0], nil
}

func (n networks) exec(nt netTable, what, id, query string, args ...any) error {
	c, err := n.t.execN(query, args...)
	if err != nil {
		return fmt.Errorf("sqldb: %s %s: %w", what, nt.name, err)
	}
	if c == 0 {
		return nt.missing(id)
	}
	return nil
}

// netUpdate rewrites the doc of the record id of table in region with
// what keep makes of the stored record (the columns listings select on
// stay): NotFound when there is none.
func netUpdate[T any](n networks, nt netTable, region, id string, keep func(old T) T) error {
	old, err := netGet[T](n, nt, region, id)
	if err != nil {
		return err
	}
	doc, err := encodeDoc(nt.what, id, keep(old))
	if err != nil {
		return err
	}
	return n.exec(nt, "update", id, `UPDATE `+nt.name+` SET doc = ? WHERE id = ? AND region = ?`, doc, id, region)
}

// delete removes the record id of table in region: NotFound when there
// is none.
func (n networks) delete(nt netTable, region, id string) error {
	return n.exec(nt, "delete", id, `DELETE FROM `+nt.name+` WHERE id = ? AND region = ?`, id, region)
}

func (n networks) create(nt netTable, id, query string, args ...any) error {
	c, err := n.t.execN(query, args...)
	if err != nil && !n.t.d.unique(err) {
		return fmt.Errorf("sqldb: create %s: %w", nt.name, err)
	}
	if err != nil || c == 0 {
		return openami.Errorf(openami.Duplicate, nt.resource, "The ID '%s' already exists", id)
	}
	return nil
}

func (n networks) CreateVPC(v openami.VPC) error {
	doc, err := encodeDoc(vpcTable.what, v.ID, v)
	if err != nil {
		return err
	}
	return n.create(vpcTable, v.ID, `INSERT INTO vpcs (region, account_id, id, doc) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		v.Region, v.AccountID, v.ID, doc)
}

func (n networks) GetVPC(region, id string) (openami.VPC, error) {
	return netGet[openami.VPC](n, vpcTable, region, id)
}

func (n networks) UpdateVPC(v openami.VPC) error {
	return netUpdate(n, vpcTable, v.Region, v.ID, func(old openami.VPC) openami.VPC {
		v.AccountID = old.AccountID
		return v
	})
}

func (n networks) DeleteVPC(region, id string) error { return n.delete(vpcTable, region, id) }

func (n networks) ListVPCs(region string, q metadata.NetworkQuery) ([]openami.VPC, error) {
	return netList[openami.VPC](n, vpcTable, region, q, false)
}

func (n networks) CreateSubnet(s openami.Subnet) error {
	doc, err := encodeDoc(subnetTable.what, s.ID, s)
	if err != nil {
		return err
	}
	return n.create(subnetTable, s.ID, `INSERT INTO subnets (region, account_id, id, vpc_id, doc) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		s.Region, s.AccountID, s.ID, s.VpcID, doc)
}

func (n networks) GetSubnet(region, id string) (openami.Subnet, error) {
	return netGet[openami.Subnet](n, subnetTable, region, id)
}

func (n networks) UpdateSubnet(s openami.Subnet) error {
	return netUpdate(n, subnetTable, s.Region, s.ID, func(old openami.Subnet) openami.Subnet {
		s.AccountID, s.VpcID = old.AccountID, old.VpcID
		return s
	})
}

func (n networks) DeleteSubnet(region, id string) error { return n.delete(subnetTable, region, id) }

func (n networks) ListSubnets(region string, q metadata.NetworkQuery) ([]openami.Subnet, error) {
	return netList[openami.Subnet](n, subnetTable, region, q, true)
}

func (n networks) CreateGroup(g openami.SecurityGroup) error {
	doc, err := encodeDoc(groupTable.what, g.ID, g)
	if err != nil {
		return err
	}
	c, err := n.t.execN(`INSERT INTO security_groups (region, account_id, id, vpc_id, name, doc) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		g.Region, g.AccountID, g.ID, g.VpcID, g.Name, doc)
	if err != nil && !n.t.d.unique(err) {
		return fmt.Errorf("sqldb: create security group: %w", err)
	}
	if err != nil || c == 0 {
		return openami.Errorf(openami.Duplicate, openami.ResourceSecurityGroup, "The security group '%s' already exists for VPC '%s'", g.Name, g.VpcID)
	}
	return nil
}

func (n networks) GetGroup(region, id string) (openami.SecurityGroup, error) {
	return netGet[openami.SecurityGroup](n, groupTable, region, id)
}

func (n networks) UpdateGroup(g openami.SecurityGroup) error {
	return netUpdate(n, groupTable, g.Region, g.ID, func(old openami.SecurityGroup) openami.SecurityGroup {
		old.Description, old.Rules = g.Description, g.Rules
		return old
	})
}

func (n networks) DeleteGroup(region, id string) error { return n.delete(groupTable, region, id) }

func (n networks) ListGroups(region string, q metadata.NetworkQuery) ([]openami.SecurityGroup, error) {
	return netList[openami.SecurityGroup](n, groupTable, region, q, true)
}
