package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/interfaces/interfacesawscloudwatch"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/trailguard/trailguard/pkg/compliance"
	"github.com/trailguard/trailguard/pkg/metrics"
	"github.com/trailguard/trailguard/pkg/plan"
)

// dashboardSuffix follows the stack's name in the dashboard's name.
const dashboardSuffix = "-trailguard"

// newDashboard adds the CloudWatch dashboard: the alarms' states, then the
// functions' EMF metrics (pkg/metrics: findings by rule, fixes by action,
// failures, trails and duration by function) and their Lambda errors.
func newDashboard(scope constructs.Construct, fns map[string]awslambda.Function, alarms []awscloudwatch.IAlarm) awscloudwatch.Dashboard {
	period := awscdk.Duration_Hours(jsii.Number(1))
	emf := func(name, dim, value, stat string) awscloudwatch.IMetric {
		return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace:     jsii.String(metrics.Namespace),
			MetricName:    jsii.String(name),
			DimensionsMap: &map[string]*string{dim: jsii.String(value)},
			Statistic:     jsii.String(stat),
			Period:        period,
			Label:         jsii.String(value),
		})
	}
	var findings, fixes, failures, trails, duration, errs []awscloudwatch.IMetric
	for _, r := range compliance.Catalogue() {
		findings = append(findings, emf(metrics.Findings, metrics.DimRule, string(r.ID), "Sum"))
	}
	for _, k := range plan.Kinds() {
		fixes = append(fixes, emf(metrics.Fixes, metrics.DimAction, string(k), "Sum"))
	}
	for _, name := range FunctionNames {
		fn := *fns[name].FunctionName()
		failures = append(failures, emf(metrics.Failures, metrics.DimFunction, fn, "Sum"))
		trails = append(trails, emf(metrics.Trails, metrics.DimFunction, fn, "Sum"))
		duration = append(duration, emf(metrics.Duration, metrics.DimFunction, fn, "p90"))
		errs = append(errs, fns[name].MetricErrors(&awscloudwatch.MetricOptions{Period: period, Statistic: jsii.String("Sum"), Label: jsii.String(name)}))
	}
	graph := func(title string, left []awscloudwatch.IMetric, stacked bool) awscloudwatch.IWidget {
		return awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{
			Title: jsii.String(title), Left: &left, Stacked: jsii.Bool(stacked), Width: jsii.Number(12), Height: jsii.Number(6),
		})
	}
	d := awscloudwatch.NewDashboard(scope, jsii.String("Dashboard"), &awscloudwatch.DashboardProps{
		DashboardName: jsii.String(*awscdk.Aws_STACK_NAME() + dashboardSuffix),
	})
	refs := make([]interfacesawscloudwatch.IAlarmRef, len(alarms))
	for i, a := range alarms {
		refs[i] = a
	}
	d.AddWidgets(awscloudwatch.NewAlarmStatusWidget(&awscloudwatch.AlarmStatusWidgetProps{
		Title: jsii.String("trailguard alarms"), Alarms: &refs, Width: jsii.Number(24), Height: jsii.Number(3),
	}))
	d.AddWidgets(graph("Findings by rule (drift seen)", findings, true), graph("Fixes by action (writes made)", fixes, true))
	d.AddWidgets(graph("Failures by function", failures, false), graph("Trails reconciled by function", trails, false))
	d.AddWidgets(graph("Duration by function, p90 (ms)", duration, false), graph("Lambda errors by function", errs, false))
	return d
}
