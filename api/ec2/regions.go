package ec2

type describeRegionsInput struct {
	dryRunParam
	RegionNames []string      `query:"RegionName"`
	AllRegions  bool          `query:"AllRegions"`
	Filters     []filterParam `query:"Filter"`
}

type regionItem struct {
	RegionName     string `xml:"regionName"`
	RegionEndpoint string `xml:"regionEndpoint"`
	OptInStatus    string `xml:"optInStatus"`
}

type describeRegionsResponse struct {
	response
	Regions items[regionItem] `xml:"regionInfo"`
}

func (h *Handler) describeRegions(c *call) (responder, error) {
	var in describeRegionsInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	fs, err := filtersOf(in.Filters, regionFilterNames)
	if err != nil {
		return nil, err
	}
	regions, err := h.identity.DescribeRegions(c.p, in.RegionNames, fs, c.scheme+"://"+c.host)
	if err != nil {
		return nil, err
	}
	out := &describeRegionsResponse{}
	for _, r := range regions {
		out.Regions = append(out.Regions, regionItem{r.Name, r.Endpoint, r.OptInStatus})
	}
	return out, nil
}

type describeAvailabilityZonesInput struct {
	dryRunParam
	ZoneNames            []string      `query:"ZoneName"`
	ZoneIDs              []string      `query:"ZoneId"`
	AllAvailabilityZones bool          `query:"AllAvailabilityZones"`
	Filters              []filterParam `query:"Filter"`
}

type zoneItem struct {
	ZoneName           string          `xml:"zoneName"`
	ZoneID             string          `xml:"zoneId"`
	ZoneState          string          `xml:"zoneState"`
	RegionName         string          `xml:"regionName"`
	GroupName          string          `xml:"groupName"`
	NetworkBorderGroup string          `xml:"networkBorderGroup"`
	OptInStatus        string          `xml:"optInStatus"`
	ZoneType           string          `xml:"zoneType"`
	Messages           items[struct{}] `xml:"messageSet"`
}

type describeAvailabilityZonesResponse struct {
	response
	Zones items[zoneItem] `xml:"availabilityZoneInfo"`
}

func (h *Handler) describeAvailabilityZones(c *call) (responder, error) {
	var in describeAvailabilityZonesInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	fs, err := filtersOf(in.Filters, zoneFilterNames)
	if err != nil {
		return nil, err
	}
	zones, err := h.identity.DescribeAvailabilityZones(c.p, in.ZoneNames, in.ZoneIDs, fs)
	if err != nil {
		return nil, err
	}
	out := &describeAvailabilityZonesResponse{}
	for _, z := range zones {
		out.Zones = append(out.Zones, zoneItem{
			ZoneName:           z.Zone.Name,
			ZoneID:             z.Zone.ID,
			ZoneState:          "available",
			RegionName:         z.Region.Name,
			GroupName:          z.Region.Name,
			NetworkBorderGroup: z.Region.Name,
			OptInStatus:        "opt-in-not-required",
			ZoneType:           "availability-zone",
		})
	}
	return out, nil
}

type describeAccountAttributesInput struct {
	dryRunParam
	AttributeNames []string `query:"AttributeName"`
}

type attributeValueItem struct {
	AttributeValue string `xml:"attributeValue"`
}

type accountAttributeItem struct {
	AttributeName string                    `xml:"attributeName"`
	Values        items[attributeValueItem] `xml:"attributeValueSet"`
}

type describeAccountAttributesResponse struct {
	response
	Attributes items[accountAttributeItem] `xml:"accountAttributeSet"`
}

func (h *Handler) describeAccountAttributes(c *call) (responder, error) {
	var in describeAccountAttributesInput
	if err := c.decode(&in); err != nil {
		return nil, err
	}
	attrs, err := h.identity.DescribeAccountAttributes(c.p, in.AttributeNames)
	if err != nil {
		return nil, err
	}
	out := &describeAccountAttributesResponse{}
	for _, a := range attrs {
		item := accountAttributeItem{AttributeName: a.Name}
		for _, v := range a.Values {
			item.Values = append(item.Values, attributeValueItem{v})
		}
		out.Attributes = append(out.Attributes, item)
	}
	return out, nil
}
