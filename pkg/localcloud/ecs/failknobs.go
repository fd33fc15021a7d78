package ecs

import "fmt"

// FailNextImages makes the next n images created from instanceID in regionID end in
// CreateFailed (their snapshots "failed") instead of Available, as a real CreateImage may
// for reasons the caller never learns; later images succeed again. n = 0 clears it.
func (s *Service) FailNextImages(regionID, instanceID string, n int) error {
	r := s.regions[regionID]
	if r == nil {
		return fmt.Errorf("fail images: unknown region %q", regionID)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	in := r.instances[instanceID]
	if in == nil {
		return fmt.Errorf("fail images: no instance %q in %s", instanceID, regionID)
	}
	in.failNext = max(n, 0)
	return nil
}

// FailNextCopies makes the next n copies that finish in destRegion end in CreateFailed
// (the way a copy fails on a KMS or capacity problem in the destination). n = 0 clears it.
func (s *Service) FailNextCopies(destRegion string, n int) error {
	r := s.regions[destRegion]
	if r == nil {
		return fmt.Errorf("fail copies: unknown region %q", destRegion)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failCopies = max(n, 0)
	return nil
}
