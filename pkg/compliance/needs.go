package compliance

import (
	"slices"
)

// Needs returns the grant the trail in s needs on a key: CloudTrail may
// encrypt and describe for this trail (its owner account is the trail ARN's
// account, the management account for an organization trail), the owner
// account's principals may decrypt, and so may every Config.Readers ARN.
// KeyARN is left empty: the caller sets it to the key the grant goes to.
// A trail ARN that does not parse yields a grant without trails, which
// Merge rejects.
func Needs(s State, c Config) Grant {
	t, ok := parseTrailARN(s.Trail.ARN)
	if !ok {
		return Grant{Readers: sortedSet(c.Readers)}
	}
	g := Grant{
		Partition:      t.Partition,
		TrailARNs:      []string{s.Trail.ARN},
		Accounts:       []string{t.Account},
		ReaderAccounts: []string{t.Account},
		Readers:        sortedSet(c.Readers),
		Deliveries: []Delivery{{
			TrailARN:     s.Trail.ARN,
			Bucket:       s.Trail.S3BucketName,
			Prefix:       s.Trail.S3KeyPrefix,
			BucketRegion: s.BucketRegion,
			BucketKey:    s.BucketKey == BucketKeyEnabled,
		}},
	}
	if s.Trail.IsOrganizationTrail {
		g.Deliveries[0].OrganizationID = s.OrganizationID
	}
	if s.BucketKey == BucketKeyEnabled {
		g.BucketKeyTrails = []string{s.Trail.ARN}
	}
	return g
}

// sortedSet returns the sorted, de-duplicated non-empty values of the
// given lists as a new slice (nil when there are none).
func sortedSet(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		for _, v := range l {
			if v != "" {
				out = append(out, v)
			}
		}
	}
	if len(out) == 0 {
		return nil
	}
	slices.Sort(out)
	return slices.Compact(out)
}
