package ecs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// Seed is the initial state of the emulated ECS account and the knobs of its behaviour.
// Zero values take the documented defaults (see withDefaults).
type Seed struct {
	Regions   []RegionSeed   `json:"regions"`
	Instances []InstanceSeed `json:"instances"`
	// Images are pre-existing images (custom "self" ones, or "system" ones instances boot from).
	Images []ImageSeed `json:"images,omitempty"`
	// ImageQuota is the custom-image quota of every region (default 100); RegionImageQuota
	// overrides it per region. Custom images in every status count, as in real ECS.
	ImageQuota       int            `json:"imageQuota,omitempty"`
	RegionImageQuota map[string]int `json:"regionImageQuota,omitempty"`
	// CopyConcurrency is how many copies may run at once into one destination region
	// (default 5); further copies wait in the "Waiting" status, first in first out.
	CopyConcurrency int    `json:"copyConcurrency,omitempty"`
	Timing          Timing `json:"timing"`
	// IgnoreUnknownImageOnDelete makes DeleteImage of an unknown id succeed (the API doc says
	// both "ignored" and InvalidImageId.NotFound); the default is the 404.
	IgnoreUnknownImageOnDelete bool `json:"ignoreUnknownImageOnDelete,omitempty"`
	// AllowConcurrentCopies turns off OperationDenied.ImageCopyConflict (a second CopyImage
	// of one source to one destination while a copy is in progress), for tests of the copy
	// queue itself.
	AllowConcurrentCopies bool `json:"allowConcurrentCopies,omitempty"`
	// ThrottleStatus is the HTTP status of injected Throttling.User errors: 400 (default,
	// documented and observed) or 429 (some newer gateways). The SDK retries neither.
	ThrottleStatus int `json:"throttleStatus,omitempty"`
	// Compute is the restore side: networks, capacity, Cloud Assistant (compute_seed.go).
	Compute ComputeSeed `json:"compute,omitempty"`
}

// RegionSeed is one region of the account.
type RegionSeed struct {
	ID        string `json:"id"`
	LocalName string `json:"localName"`
}

// InstanceSeed describes an instance; it is also the argument of Service.AddInstance.
type InstanceSeed struct {
	ID           string            `json:"id,omitempty"` // generated when empty (AddInstance only)
	Region       string            `json:"region"`
	ZoneID       string            `json:"zoneId,omitempty"`
	Name         string            `json:"name,omitempty"`
	Status       string            `json:"status,omitempty"` // default Running
	InstanceType string            `json:"instanceType,omitempty"`
	OSType       string            `json:"osType,omitempty"` // linux (default) or windows
	Tags         map[string]string `json:"tags,omitempty"`
	Disks        []DiskSeed        `json:"disks"`
	ImageID      string            `json:"imageId,omitempty"`
	// LockReason non-empty (e.g. "security") makes CreateImage fail with InstanceLockedForSecurity.
	LockReason string `json:"lockReason,omitempty"`
	// FailImages makes every image created from this instance end in CreateFailed instead
	// of Available (a test hook; real ECS fails rarely and without warning).
	FailImages bool `json:"failImages,omitempty"`
	InstanceNet
}

// DiskSeed is one disk of an instance.
type DiskSeed struct {
	ID       string `json:"id,omitempty"` // generated when empty
	Type     string `json:"type"`         // system or data
	SizeGiB  int    `json:"sizeGiB"`
	Device   string `json:"device,omitempty"`   // default /dev/xvda for system, /dev/xvdb.. for data
	Category string `json:"category,omitempty"` // default cloud_essd
}

// ImageSeed is a pre-existing image.
type ImageSeed struct {
	ID           string            `json:"id"`
	Region       string            `json:"region"`
	Name         string            `json:"name"`
	OwnerAlias   string            `json:"ownerAlias,omitempty"` // self (default) or system
	Status       string            `json:"status,omitempty"`     // default Available
	SizeGiB      int               `json:"sizeGiB,omitempty"`    // default 40
	OSType       string            `json:"osType,omitempty"`
	Tags         map[string]string `json:"tags,omitempty"`
	CreationTime time.Time         `json:"creationTime,omitempty"` // default: the clock's start
	// SourceInstanceID is informational (the instance the image was taken from).
	SourceInstanceID string `json:"sourceInstanceId,omitempty"`
}

// Timing is the duration model of the asynchronous operations:
// duration = Base + PerGiB × total disk size of the image.
type Timing struct {
	CreateBase   Duration `json:"createBase,omitempty"`   // default 2m
	CreatePerGiB Duration `json:"createPerGiB,omitempty"` // default 3s
	CopyBase     Duration `json:"copyBase,omitempty"`     // default 5m
	CopyPerGiB   Duration `json:"copyPerGiB,omitempty"`   // default 6s
}

// Duration is a time.Duration that reads and writes JSON as "2m30s" (a bare number is seconds).
type Duration time.Duration

// MarshalJSON writes the Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON accepts "90s"/"2m" or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	s := strings.TrimSpace(string(b))
	if strings.HasPrefix(s, `"`) {
		var str string
		if err := json.Unmarshal(b, &str); err != nil {
			return fmt.Errorf("duration: %w", err)
		}
		v, err := time.ParseDuration(str)
		if err != nil {
			return fmt.Errorf("duration %q: %w", str, err)
		}
		*d = Duration(v)
		return nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("duration %s: want a string like \"2m\" or a number of seconds", s)
	}
	*d = Duration(f * float64(time.Second))
	return nil
}

// SystemImageID is the public image every default-seed instance runs.
const SystemImageID = "aliyun_3_x64_20G_alibase_20240819.vhd"

// DefaultSeed returns five regions (cn-hangzhou, cn-shanghai, cn-beijing, cn-shenzhen,
// ap-southeast-1), a system image in each, and instances in the first three with tags and
// disks: i-hz-web-1 (Running, 40+100 GiB, tags app=web env=prod backup=daily),
// i-hz-db-1 (Stopped, 40+500 GiB, app=db env=prod backup=daily), i-hz-dev-1 (Running,
// 20 GiB, env=dev), i-hz-locked-1 (Running, locked for security, backup=daily),
// i-sh-app-1 (Running, 40 GiB, app=api env=prod backup=daily), i-bj-batch-1 (Running,
// 40+200 GiB, app=batch backup=weekly).
func DefaultSeed() Seed {
	regions := []RegionSeed{
		{ID: "cn-hangzhou", LocalName: "华东1（杭州）"},
		{ID: "cn-shanghai", LocalName: "华东2（上海）"},
		{ID: "cn-beijing", LocalName: "华北2（北京）"},
		{ID: "cn-shenzhen", LocalName: "华南1（深圳）"},
		{ID: "ap-southeast-1", LocalName: "新加坡"},
	}
	var images []ImageSeed
	for _, r := range regions {
		images = append(images, ImageSeed{ID: SystemImageID, Region: r.ID, Name: "Alibaba Cloud Linux 3.2104 LTS 64 bit",
			OwnerAlias: "system", SizeGiB: 20, OSType: "linux"})
	}
	disk := func(id, typ string, size int) DiskSeed { return DiskSeed{ID: id, Type: typ, SizeGiB: size} }
	return Seed{
		Regions: regions,
		Images:  images,
		Instances: []InstanceSeed{
			{ID: "i-hz-web-1", Region: "cn-hangzhou", ZoneID: "cn-hangzhou-h", Name: "web-1", Status: "Running",
				Tags:  map[string]string{"app": "web", "env": "prod", "backup": "daily"},
				Disks: []DiskSeed{disk("d-hz-web-1-sys", "system", 40), disk("d-hz-web-1-data", "data", 100)}},
			{ID: "i-hz-db-1", Region: "cn-hangzhou", ZoneID: "cn-hangzhou-i", Name: "db-1", Status: "Stopped",
				Tags:  map[string]string{"app": "db", "env": "prod", "backup": "daily"},
				Disks: []DiskSeed{disk("d-hz-db-1-sys", "system", 40), disk("d-hz-db-1-data", "data", 500)}},
			{ID: "i-hz-dev-1", Region: "cn-hangzhou", ZoneID: "cn-hangzhou-h", Name: "dev-1", Status: "Running",
				Tags:  map[string]string{"env": "dev"},
				Disks: []DiskSeed{disk("d-hz-dev-1-sys", "system", 20)}},
			{ID: "i-hz-locked-1", Region: "cn-hangzhou", ZoneID: "cn-hangzhou-h", Name: "locked-1", Status: "Running",
				Tags: map[string]string{"backup": "daily"}, LockReason: "security",
				Disks: []DiskSeed{disk("d-hz-locked-1-sys", "system", 40)}},
			{ID: "i-sh-app-1", Region: "cn-shanghai", ZoneID: "cn-shanghai-l", Name: "api-1", Status: "Running",
				Tags:  map[string]string{"app": "api", "env": "prod", "backup": "daily"},
				Disks: []DiskSeed{disk("d-sh-app-1-sys", "system", 40)}},
			{ID: "i-bj-batch-1", Region: "cn-beijing", ZoneID: "cn-beijing-k", Name: "batch-1", Status: "Running",
				Tags:  map[string]string{"app": "batch", "backup": "weekly"},
				Disks: []DiskSeed{disk("d-bj-batch-1-sys", "system", 40), disk("d-bj-batch-1-data", "data", 200)}},
		},
	}
}

// LoadSeed reads a JSON seed file; unknown fields and inconsistent content are errors.
func LoadSeed(path string) (Seed, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Seed{}, fmt.Errorf("load ecs seed: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var s Seed
	if err := dec.Decode(&s); err != nil {
		return Seed{}, fmt.Errorf("load ecs seed %s: %w", path, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Seed{}, fmt.Errorf("load ecs seed %s: data after the seed object at offset %d", path, dec.InputOffset())
	}
	if err := s.Validate(); err != nil {
		return Seed{}, fmt.Errorf("load ecs seed %s: %w", path, err)
	}
	return s, nil
}

var instanceStatuses = map[string]bool{"Pending": true, "Running": true, "Starting": true, "Stopping": true, "Stopped": true}

// Validate reports every problem of the seed, each naming the field.
func (s Seed) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if len(s.Regions) == 0 {
		bad("regions: at least one region is required")
	}
	regions := map[string]bool{}
	for i, r := range s.Regions {
		switch {
		case r.ID == "":
			bad("regions[%d].id: required", i)
		case regions[r.ID]:
			bad("regions[%d].id: duplicate region %q", i, r.ID)
		}
		regions[r.ID] = true
	}
	if s.ImageQuota < 0 {
		bad("imageQuota: must not be negative, got %d", s.ImageQuota)
	}
	for r, q := range s.RegionImageQuota {
		if !regions[r] {
			bad("regionImageQuota: unknown region %q", r)
		}
		if q < 0 {
			bad("regionImageQuota[%s]: must not be negative, got %d", r, q)
		}
	}
	if s.ThrottleStatus != 0 && s.ThrottleStatus != 400 && s.ThrottleStatus != 429 {
		bad("throttleStatus: want 400 or 429, got %d", s.ThrottleStatus)
	}
	if s.CopyConcurrency < 0 {
		bad("copyConcurrency: must not be negative, got %d", s.CopyConcurrency)
	}
	for name, d := range map[string]Duration{"createBase": s.Timing.CreateBase, "createPerGiB": s.Timing.CreatePerGiB,
		"copyBase": s.Timing.CopyBase, "copyPerGiB": s.Timing.CopyPerGiB} {
		if d < 0 {
			bad("timing.%s: must not be negative", name)
		}
	}
	ids := map[string]bool{}
	for i, in := range s.Instances {
		errs = append(errs, validateInstanceSeed(fmt.Sprintf("instances[%d]", i), in, regions, true)...)
		if ids[in.ID] {
			bad("instances[%d].id: duplicate instance %q", i, in.ID)
		}
		ids[in.ID] = true
	}
	errs = append(errs, s.Compute.validate(regions)...)
	imgs := map[string]bool{}
	for i, im := range s.Images {
		p := fmt.Sprintf("images[%d]", i)
		if im.ID == "" {
			bad("%s.id: required", p)
		}
		if !regions[im.Region] {
			bad("%s.region: unknown region %q", p, im.Region)
		}
		if imgs[im.Region+"/"+im.ID] {
			bad("%s.id: duplicate image %q in %s", p, im.ID, im.Region)
		}
		imgs[im.Region+"/"+im.ID] = true
		switch im.OwnerAlias {
		case "", "self", "system":
		default:
			bad("%s.ownerAlias: want self or system, got %q", p, im.OwnerAlias)
		}
		switch im.Status {
		case "", "Available", "CreateFailed", "UnAvailable", "Deprecated":
		default:
			bad("%s.status: seeded images must be settled (Available, CreateFailed, UnAvailable, Deprecated), got %q", p, im.Status)
		}
		if im.SizeGiB < 0 {
			bad("%s.sizeGiB: must not be negative", p)
		}
	}
	return errors.Join(errs...)
}

func validateInstanceSeed(p string, in InstanceSeed, regions map[string]bool, needID bool) []error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if needID && in.ID == "" {
		bad("%s.id: required", p)
	}
	if !regions[in.Region] {
		bad("%s.region: unknown region %q", p, in.Region)
	}
	if in.Status != "" && !instanceStatuses[in.Status] {
		bad("%s.status: want Pending, Running, Starting, Stopping or Stopped, got %q", p, in.Status)
	}
	if len(in.Disks) == 0 {
		bad("%s.disks: at least the system disk is required", p)
	}
	system := 0
	for j, d := range in.Disks {
		switch d.Type {
		case "system":
			system++
		case "data":
		default:
			bad("%s.disks[%d].type: want system or data, got %q", p, j, d.Type)
		}
		if d.SizeGiB <= 0 {
			bad("%s.disks[%d].sizeGiB: must be positive, got %d", p, j, d.SizeGiB)
		}
	}
	if len(in.Disks) > 0 && system != 1 {
		bad("%s.disks: want exactly one system disk, got %d", p, system)
	}
	return errs
}

// withDefaults fills the zero values.
func (s Seed) withDefaults() Seed {
	if s.ImageQuota == 0 {
		s.ImageQuota = 100
	}
	if s.CopyConcurrency == 0 {
		s.CopyConcurrency = 5
	}
	s.Compute = s.Compute.withDefaults()
	if s.ThrottleStatus == 0 {
		s.ThrottleStatus = 400
	}
	if s.Timing.CreateBase == 0 {
		s.Timing.CreateBase = Duration(2 * time.Minute)
	}
	if s.Timing.CreatePerGiB == 0 {
		s.Timing.CreatePerGiB = Duration(3 * time.Second)
	}
	if s.Timing.CopyBase == 0 {
		s.Timing.CopyBase = Duration(5 * time.Minute)
	}
	if s.Timing.CopyPerGiB == 0 {
		s.Timing.CopyPerGiB = Duration(6 * time.Second)
	}
	return s
}
