package catalog

import (
	"bytes"
	"testing"
	"time"
)

func TestPrintTable(t *testing.T) {
	t.Parallel()
	now := time.Date(2024, 5, 3, 12, 0, 0, 0, time.UTC)
	src := Entry{InstanceID: "i-web", Region: "cn-hangzhou", ImageID: "m-src1", Role: "source",
		CreationTime: time.Date(2024, 5, 3, 2, 0, 0, 0, time.UTC), SizeGiB: 40, RPOSeconds: 900}
	cp := Entry{InstanceID: "i-web", Region: "cn-beijing", ImageID: "m-cp1", Role: "copy",
		CreationTime: time.Date(2024, 5, 3, 2, 55, 0, 0, time.UTC), SizeGiB: 40, RPOSeconds: 3 * 3600}
	old := Entry{InstanceID: "i-db", Region: "cn-shanghai", ImageID: "m-cp0", Role: "copy",
		CreationTime: time.Date(2024, 4, 30, 2, 0, 0, 0, time.UTC), SizeGiB: 500}

	tests := []struct {
		name    string
		entries []Entry
		want    string
	}{
		{"rows sorted, source first", []Entry{cp, old, src}, "" +
			"INSTANCE  REGION       IMAGE   CREATED            SIZE     ROLE    RPO    AGE\n" +
			"i-db      cn-shanghai  m-cp0   2024-04-30 02:00Z  500 GiB  copy    -      3d10h\n" +
			"i-web     cn-hangzhou  m-src1  2024-05-03 02:00Z  40 GiB   source  15m    10h00m\n" +
			"i-web     cn-beijing   m-cp1   2024-05-03 02:55Z  40 GiB   copy    3h00m  9h05m\n"},
		{"empty", nil, "INSTANCE  REGION  IMAGE  CREATED  SIZE  ROLE  RPO  AGE\n(no catalog entries)\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			PrintTable(&buf, tc.entries, now)
			if buf.String() != tc.want {
				t.Fatalf("got:\n%s\nwant:\n%s", buf.String(), tc.want)
			}
		})
	}
}

func TestFormatDuration(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		0: "0s", 59 * time.Second: "59s", 90 * time.Second: "1m", 61 * time.Minute: "1h01m",
		49 * time.Hour: "2d01h", -5 * time.Minute: "-5m",
	} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}
