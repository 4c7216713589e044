package ec2

import (
	"bytes"
	"encoding/xml"
	"io"
	"testing"
)

// elementsNamed decodes an encoded response and counts its elements
// named name.
func elementsNamed(t *testing.T, body []byte, name string) int {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(body))
	n := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return n
		}
		if err != nil {
			t.Fatalf("response does not decode: %v\n%s", err, body)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == name {
			n++
		}
	}
}

// TestUntaggedTagSet: an untagged instance (DescribeInstances and
// RunInstances), volume (DescribeVolumes and CreateVolume), image, and
// the CreateKeyPair, ImportKeyPair, CreateSecurityGroup and CopySnapshot
// responses carry no tagSet element, as on EC2; DescribeKeyPairs and
// DescribeSnapshots keep an empty one, as EC2 does; a tagged resource
// always has its tags.
func TestUntaggedTagSet(t *testing.T) {
	tags := tagSet(nil)
	one := items[tagItem]{{Key: "Name", Value: "x"}}
	cases := []struct {
		name     string
		untagged any
		tagged   any
		want     int // tagSet elements when untagged
	}{
		{"RunInstances",
			&runInstancesResponse{reservationFields: reservationFields{Instances: items[instanceItem]{{Tags: tags}, {Tags: tags}}}},
			&runInstancesResponse{reservationFields: reservationFields{Instances: items[instanceItem]{{Tags: one}}}}, 0},
		{"DescribeInstances",
			&describeInstancesResponse{Reservations: items[reservationFields]{{Instances: items[instanceItem]{{Tags: tags}}}}},
			&describeInstancesResponse{Reservations: items[reservationFields]{{Instances: items[instanceItem]{{Tags: one}}}}}, 0},
		{"DescribeVolumes",
			&describeVolumesResponse{Volumes: items[volumeFields]{{Tags: tags}}},
			&describeVolumesResponse{Volumes: items[volumeFields]{{Tags: one}}}, 0},
		{"CreateVolume", &createVolumeResponse{volumeFields: volumeFields{Tags: tags}}, &createVolumeResponse{volumeFields: volumeFields{Tags: one}}, 0},
		{"DescribeImages", &describeImagesResponse{Images: items[imageItem]{{Tags: tags}}}, &describeImagesResponse{Images: items[imageItem]{{Tags: one}}}, 0},
		{"CreateKeyPair", &createKeyPairResponse{Tags: tags}, &createKeyPairResponse{Tags: one}, 0},
		{"ImportKeyPair", &importKeyPairResponse{Tags: tags}, &importKeyPairResponse{Tags: one}, 0},
		{"CreateSecurityGroup", &createSecurityGroupResponse{Tags: tags}, &createSecurityGroupResponse{Tags: one}, 0},
		{"CopySnapshot", &copySnapshotResponse{Tags: tags}, &copySnapshotResponse{Tags: one}, 0},
		{"DescribeKeyPairs", &describeKeyPairsResponse{KeyPairs: items[keyPairItem]{{Tags: tags}}}, &describeKeyPairsResponse{KeyPairs: items[keyPairItem]{{Tags: one}}}, 1},
		{"DescribeSnapshots", &describeSnapshotsResponse{Snapshots: items[snapshotFields]{{Tags: tags}}}, &describeSnapshotsResponse{Snapshots: items[snapshotFields]{{Tags: one}}}, 1},
	}
	for _, c := range cases {
		var b bytes.Buffer
		if err := encodeResponse(&b, c.name+"Response", c.untagged); err != nil {
			t.Fatal(err)
		}
		if got := elementsNamed(t, b.Bytes(), "tagSet"); got != c.want {
			t.Errorf("%s, untagged: %d tagSet elements, want %d\n%s", c.name, got, c.want, b.Bytes())
		}
		b.Reset()
		if err := encodeResponse(&b, c.name+"Response", c.tagged); err != nil {
			t.Fatal(err)
		}
		if got := elementsNamed(t, b.Bytes(), "tagSet"); got != 1 || elementsNamed(t, b.Bytes(), "key") != 1 {
			t.Errorf("%s, tagged: %d tagSet elements, want 1 with its tag\n%s", c.name, got, b.Bytes())
		}
	}
}
