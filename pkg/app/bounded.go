package app

import (
	"reflect"
	"strings"
)

// MaxResultItems bounds every list of a function result (the summaries' started, copied,
// deleted… lists): FC keeps results small, and an operator reads a count and the first
// items, not 5,000 lines. What is cut is counted in the summary's Omitted map, under the
// list's JSON name, on top of what the service already left out.
const MaxResultItems = 100

// bound cuts every list of res's summaries to MaxResultItems.
func bound(res *Result) {
	if res == nil {
		return
	}
	v := reflect.ValueOf(res).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		if f.Kind() == reflect.Pointer && !f.IsNil() && f.Elem().Kind() == reflect.Struct {
			boundSummary(f.Elem())
		}
	}
}

// boundSummary cuts the slices of one summary struct that has an Omitted map[string]int.
func boundSummary(s reflect.Value) {
	om := s.FieldByName("Omitted")
	if !om.IsValid() || om.Type() != reflect.TypeFor[map[string]int]() {
		return
	}
	t := s.Type()
	for i := range s.NumField() {
		f := s.Field(i)
		if f.Kind() != reflect.Slice || f.Len() <= MaxResultItems {
			continue
		}
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		if om.IsNil() {
			om.Set(reflect.MakeMap(om.Type()))
		}
		key := reflect.ValueOf(name)
		prev := 0
		if cur := om.MapIndex(key); cur.IsValid() {
			prev = int(cur.Int())
		}
		om.SetMapIndex(key, reflect.ValueOf(prev+f.Len()-MaxResultItems))
		f.Set(f.Slice(0, MaxResultItems))
	}
}
