package ecs

import "fmt"

// SetFailImages makes every image created from the instance from now on end in
// CreateFailed (fail true) or Available again (false): the chaos runs' "images ending
// CreateFailed" fault. Images already in progress keep the fate drawn at their creation.
func (s *Service) SetFailImages(regionID, instanceID string, fail bool) error {
	r := s.regions[regionID]
	if r == nil {
		return fmt.Errorf("set fail images: unknown region %q", regionID)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	in := r.instances[instanceID]
	if in == nil {
		return fmt.Errorf("set fail images: unknown instance %q in %s", instanceID, regionID)
	}
	in.FailImages = fail
	return nil
}
