package ecsx

import (
	"slices"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/responses"
)

// Slim responses of the three listings. The generated responses of the official SDK
// (ecs.DescribeImagesResponse and the others) declare every field of every nested
// structure the API may return: decoding a page of 100 images or instances into them
// allocates and zeroes dozens of fields per item, most of which the adapter never reads,
// and the listings are the bulk of every run's memory and CPU at fleet scale.
//
// These types declare only what the adapter reads, with the same JSON names, and are
// passed to the SDK client's DoAction: the SDK still builds, signs and sends the request
// exactly as its generated method does (the wire format does not change), and decodes
// the body with its own parser (responses.Unmarshal: jsoniter with the SDK's fuzzy
// decoders, so a number sent as a string or the reverse decodes as before); fields not
// declared here are skipped. TestSlimDecodeMatchesSDK decodes the same emulator pages
// with the generated types and these, and requires equal results with every field set.

type slimTag struct {
	TagKey   string `json:"TagKey" xml:"TagKey"`
	TagValue string `json:"TagValue" xml:"TagValue"`
}

type slimTags struct {
	Tag []slimTag `json:"Tag" xml:"Tag"`
}

// tagMap turns the tags of one item into a map; in an interner's strings when one is
// given, so that the keys and repeated values of a listing share their storage.
func (t slimTags) tagMap(in *interner) map[string]string {
	m := make(map[string]string, len(t.Tag))
	for _, tg := range t.Tag {
		m[in.get(tg.TagKey)] = in.get(tg.TagValue)
	}
	return m
}

type slimImage struct {
	ImageId            string   `json:"ImageId" xml:"ImageId"`
	ImageName          string   `json:"ImageName" xml:"ImageName"`
	Status             string   `json:"Status" xml:"Status"`
	Progress           string   `json:"Progress" xml:"Progress"`
	Size               int      `json:"Size" xml:"Size"`
	CreationTime       string   `json:"CreationTime" xml:"CreationTime"`
	IsCopied           bool     `json:"IsCopied" xml:"IsCopied"`
	Tags               slimTags `json:"Tags" xml:"Tags"`
	DiskDeviceMappings struct {
		DiskDeviceMapping []struct {
			SnapshotId string `json:"SnapshotId" xml:"SnapshotId"`
		} `json:"DiskDeviceMapping" xml:"DiskDeviceMapping"`
	} `json:"DiskDeviceMappings" xml:"DiskDeviceMappings"`
}

type describeImagesResponse struct {
	*responses.BaseResponse
	TotalCount int `json:"TotalCount" xml:"TotalCount"`
	Images     struct {
		Image []slimImage `json:"Image" xml:"Image"`
	} `json:"Images" xml:"Images"`
}

type slimInstance struct {
	InstanceId     string   `json:"InstanceId" xml:"InstanceId"`
	InstanceName   string   `json:"InstanceName" xml:"InstanceName"`
	RegionId       string   `json:"RegionId" xml:"RegionId"`
	Status         string   `json:"Status" xml:"Status"`
	ImageId        string   `json:"ImageId" xml:"ImageId"`
	Tags           slimTags `json:"Tags" xml:"Tags"`
	OperationLocks struct {
		LockReason []struct {
			LockReason string `json:"LockReason" xml:"LockReason"`
		} `json:"LockReason" xml:"LockReason"`
	} `json:"OperationLocks" xml:"OperationLocks"`
	// InstanceConfig's sources.
	ZoneId        string `json:"ZoneId" xml:"ZoneId"`
	InstanceType  string `json:"InstanceType" xml:"InstanceType"`
	OSType        string `json:"OSType" xml:"OSType"`
	HostName      string `json:"HostName" xml:"HostName"`
	KeyPairName   string `json:"KeyPairName" xml:"KeyPairName"`
	Cpu           int    `json:"Cpu" xml:"Cpu"`
	Memory        int    `json:"Memory" xml:"Memory"`
	StartTime     string `json:"StartTime" xml:"StartTime"`
	VpcAttributes struct {
		VpcId            string `json:"VpcId" xml:"VpcId"`
		VSwitchId        string `json:"VSwitchId" xml:"VSwitchId"`
		PrivateIpAddress struct {
			IpAddress []string `json:"IpAddress" xml:"IpAddress"`
		} `json:"PrivateIpAddress" xml:"PrivateIpAddress"`
	} `json:"VpcAttributes" xml:"VpcAttributes"`
	SecurityGroupIds struct {
		SecurityGroupId []string `json:"SecurityGroupId" xml:"SecurityGroupId"`
	} `json:"SecurityGroupIds" xml:"SecurityGroupIds"`
}

type describeInstancesResponse struct {
	*responses.BaseResponse
	TotalCount int `json:"TotalCount" xml:"TotalCount"`
	Instances  struct {
		Instance []slimInstance `json:"Instance" xml:"Instance"`
	} `json:"Instances" xml:"Instances"`
}

type slimSnapshot struct {
	SnapshotId string   `json:"SnapshotId" xml:"SnapshotId"`
	Status     string   `json:"Status" xml:"Status"`
	Tags       slimTags `json:"Tags" xml:"Tags"`
}

type describeSnapshotsResponse struct {
	*responses.BaseResponse
	TotalCount int `json:"TotalCount" xml:"TotalCount"`
	Snapshots  struct {
		Snapshot []slimSnapshot `json:"Snapshot" xml:"Snapshot"`
	} `json:"Snapshots" xml:"Snapshots"`
}

// reuse returns s emptied and zeroed, for the next page to decode into (the SDK's
// decoder fills a slice's existing capacity before it grows it, and leaves fields absent
// from the JSON as they are, hence the zeroing); a new slice of one page's capacity when
// s has none.
func reuse[T any](s []T) []T {
	if cap(s) == 0 {
		return make([]T, 0, 100)
	}
	s = s[:cap(s)]
	clear(s)
	return s[:0]
}

// image converts one listed image (region: the region listed).
func (im *slimImage) image(region string, in *interner) (Image, error) {
	img := Image{ID: im.ImageId, Name: im.ImageName, Region: region, Status: in.get(im.Status), Progress: in.get(im.Progress),
		SizeGiB: im.Size, Tags: im.Tags.tagMap(in), IsCopied: im.IsCopied}
	if im.CreationTime != "" {
		t, err := parseTime(im.CreationTime)
		if err != nil {
			return Image{}, err
		}
		img.Created = t
	}
	for _, m := range im.DiskDeviceMappings.DiskDeviceMapping {
		if m.SnapshotId != "" {
			img.Snapshots = append(img.Snapshots, m.SnapshotId)
		}
	}
	return img, nil
}

// instance converts one listed instance (region: the region listed, when the item has none).
func (in *slimInstance) instance(region string, it *interner) Instance {
	inst := Instance{ID: in.InstanceId, Name: in.InstanceName, Region: it.get(in.RegionId), Status: it.get(in.Status),
		ImageID: it.get(in.ImageId), Tags: in.Tags.tagMap(it)}
	if inst.Region == "" {
		inst.Region = region
	}
	for _, l := range in.OperationLocks.LockReason {
		inst.Locked = true
		inst.LockReasons = append(inst.LockReasons, l.LockReason)
	}
	c := InstanceConfig{Zone: it.get(in.ZoneId), InstanceType: it.get(in.InstanceType), OSType: it.get(in.OSType),
		VpcID: it.get(in.VpcAttributes.VpcId), VSwitchID: it.get(in.VpcAttributes.VSwitchId),
		SecurityGroupIDs: slices.Clone(in.SecurityGroupIds.SecurityGroupId), HostName: in.HostName, KeyPairName: it.get(in.KeyPairName),
		CPU: in.Cpu, MemoryMiB: in.Memory}
	for i, g := range c.SecurityGroupIDs {
		c.SecurityGroupIDs[i] = it.get(g)
	}
	if in.StartTime != "" {
		if t, err := parseTime(in.StartTime); err == nil {
			c.StartedAt = t
		}
	}
	if ips := in.VpcAttributes.PrivateIpAddress.IpAddress; len(ips) > 0 {
		c.PrivateIP = ips[0]
	}
	inst.Config = c
	return inst
}

// snapshot converts one listed snapshot.
func (s *slimSnapshot) snapshot(region string, in *interner) Snapshot {
	return Snapshot{ID: s.SnapshotId, Region: region, Status: in.get(s.Status), Tags: s.Tags.tagMap(in)}
}

// interner makes the repeated strings of one listing (tag keys, tag values such as the
// policy, role or region, statuses, zones) share one copy: a listing of a region's
// managed images holds the same dozen keys and a few dozen values thousands of times,
// each decoded into its own allocation. Strings unique to an item (ids, slots) are kept
// too, up to maxInterned distinct strings; past that, new strings are returned as they
// are. A nil *interner returns every string as it is. Not safe for concurrent use: one
// per listing call.
type interner struct{ m map[string]string }

const maxInterned = 4096

func newInterner() *interner { return &interner{m: make(map[string]string, 64)} }

func (in *interner) get(s string) string {
	if in == nil || s == "" {
		return s
	}
	if v, ok := in.m[s]; ok {
		return v
	}
	if len(in.m) < maxInterned {
		in.m[s] = s
	}
	return s
}
