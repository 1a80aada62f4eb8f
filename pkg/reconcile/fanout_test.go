package reconcile

import (
	"testing"

	"github.com/trailguard/trailguard/pkg/compliance"
)

func TestOwnsTrail(t *testing.T) {
	covered := []string{"eu-west-1", "us-east-1", "us-west-2"}
	tests := []struct {
		name    string
		trail   compliance.Trail
		region  string
		covered []string
		want    bool
	}{
		{"home Region's item", compliance.Trail{HomeRegion: "us-east-1", IsMultiRegion: true}, "us-east-1", covered, true},
		{"a shadow elsewhere", compliance.Trail{HomeRegion: "us-east-1", IsMultiRegion: true}, "eu-west-1", covered, false},
		{"home not covered: first covered Region takes it", compliance.Trail{HomeRegion: "ap-south-1", IsMultiRegion: true}, "eu-west-1", covered, true},
		{"home not covered: other covered Regions do not", compliance.Trail{HomeRegion: "ap-south-1", IsMultiRegion: true}, "us-west-2", covered, false},
		{"no covered list: only home", compliance.Trail{HomeRegion: "ap-south-1"}, "eu-west-1", nil, false},
		{"home unknown", compliance.Trail{}, "eu-west-1", covered, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ownsTrail(tt.trail, tt.region, tt.covered); got != tt.want {
				t.Errorf("ownsTrail = %v, want %v", got, tt.want)
			}
		})
	}
}
