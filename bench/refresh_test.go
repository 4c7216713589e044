package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/openami/openami/internal/testenv"
)

// The rolling instance refresh of real VMs: issue 18's qemu measure. Run
// it with
//
//	nice go test -run '^$' -bench QemuRefresh -benchtime 1x -timeout 60m ./bench/
//
// It needs what BenchmarkBoot needs. One `serve --runtime qemu` (the
// accelerator the runtime's probe picks; never pinned), the test image
// ingested once and registered as two images. An Auto Scaling group of 3
// (t2.micro, two zones) from a launch template is filled (every guest at
// `init done`); then each of BENCH_REFRESH_RUNS (3) runs makes a new
// template version with the other image and starts an instance refresh
// (MinHealthyPercentage BENCH_REFRESH_MIN_HEALTHY, 66: one instance at a
// time), for each InstanceWarmup of BENCH_REFRESH_WARMUPS (0,45 seconds),
// polling the group every 100 ms: the wall time from StartInstanceRefresh
// to the refresh Successful, the fewest instances InService and Healthy
// at any poll, the fewest of those whose guest had printed `init done`
// (really serving), and the time until every replacement's guest has.
// docs/BENCHMARKS.md ("Auto Scaling") gives the latest results.
func BenchmarkQemuRefresh(b *testing.B) {
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		b.Fatal("qemu-system-x86_64 not found: apt-get install -y qemu-system-x86")
	}
	runs := intsEnv(b, "BENCH_REFRESH_RUNS", []int{3})[0]
	minHealthy := intsEnv(b, "BENCH_REFRESH_MIN_HEALTHY", []int{66})[0]
	warmups := []int{0, 45}
	if os.Getenv("BENCH_REFRESH_WARMUPS") != "" {
		warmups = nil
		for _, w := range strings.Split(os.Getenv("BENCH_REFRESH_WARMUPS"), ",") {
			n, err := strconv.Atoi(strings.TrimSpace(w))
			if err != nil || n < 0 {
				b.Fatalf("BENCH_REFRESH_WARMUPS=%q: want seconds ≥ 0 separated by commas", os.Getenv("BENCH_REFRESH_WARMUPS"))
			}
			warmups = append(warmups, n)
		}
	}
	info := machine()
	work := b.TempDir()
	bin := build(b, work)
	img := testenv.TestImage(b)
	st, err := os.Stat(img)
	if err != nil {
		b.Fatal(err)
	}
	var report strings.Builder
	for range b.N {
		ctx := context.Background()
		dataDir, err := os.MkdirTemp("", "obr-")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(dataDir) })
		t := startOpenamiIn(b, bin, "qemu", dataDir, "--runtime", "qemu")
		cfg := blockConfig(t, "us-east-1", 8)
		e, a := ec2.NewFromConfig(cfg), autoscaling.NewFromConfig(cfg)
		r := ingest(b, t, img, st.Size(), 8, "us-east-1")
		var images []string
		for _, name := range []string{"fleet-a", "fleet-b"} {
			out, err := e.RegisterImage(ctx, &ec2.RegisterImageInput{Name: aws.String(name), RootDeviceName: aws.String("/dev/xvda"),
				BootMode:            types.BootModeValuesLegacyBios,
				BlockDeviceMappings: []types.BlockDeviceMapping{{DeviceName: aws.String("/dev/xvda"), Ebs: &types.EbsBlockDevice{SnapshotId: aws.String(r.snapshotID)}}}})
			if err != nil {
				b.Fatal(err)
			}
			images = append(images, *out.ImageId)
		}
		lt, err := e.CreateLaunchTemplate(ctx, &ec2.CreateLaunchTemplateInput{LaunchTemplateName: aws.String("fleet"),
			LaunchTemplateData: &types.RequestLaunchTemplateData{ImageId: aws.String(images[0]), InstanceType: types.InstanceTypeT2Micro}})
		if err != nil {
			b.Fatal(err)
		}
		ltID := aws.ToString(lt.LaunchTemplate.LaunchTemplateId)
		t0 := time.Now()
		if _, err := a.CreateAutoScalingGroup(ctx, &autoscaling.CreateAutoScalingGroupInput{AutoScalingGroupName: aws.String("fleet"),
			LaunchTemplate: &astypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String(ltID), Version: aws.String("$Latest")},
			MinSize:        aws.Int32(3), MaxSize: aws.Int32(4), DesiredCapacity: aws.Int32(3),
			AvailabilityZones: []string{"us-east-1a", "us-east-1b"}, HealthCheckGracePeriod: aws.Int32(0)}); err != nil {
			b.Fatal(err)
		}
		ids := waitInService(b, a, 3)
		fillService := time.Since(t0)
		waitGuests(b, t, ids, t0)
		fillBooted := time.Since(t0)

		fmt.Fprintf(&report, "\nA group of 3 t2.micro VMs (qemu runtime) filled: %.1f s to 3 InService, %.1f s to every guest at `init done`.\n",
			fillService.Seconds(), fillBooted.Seconds())
		fmt.Fprintf(&report, "Instance refreshes onto the other image, MinHealthyPercentage %d, %d runs each:\n\n", minHealthy, runs)
		fmt.Fprintf(&report, "| InstanceWarmup s | → Successful p50 s (min–max) | → every new guest at `init done` p50 s (min–max) | fewest InService | fewest InService with the guest up |\n|--:|--:|--:|--:|--:|\n")
		version := 0
		for _, warmup := range warmups {
			var walls, booted []float64
			fewest, fewestUp := 3, 3
			for range runs {
				version++
				k := version
				if _, err := e.CreateLaunchTemplateVersion(ctx, &ec2.CreateLaunchTemplateVersionInput{LaunchTemplateId: aws.String(ltID),
					SourceVersion: aws.String("1"), LaunchTemplateData: &types.RequestLaunchTemplateData{ImageId: aws.String(images[(k+1)%2])}}); err != nil {
					b.Fatal(err)
				}
				t0 := time.Now()
				ref, err := a.StartInstanceRefresh(ctx, &autoscaling.StartInstanceRefreshInput{AutoScalingGroupName: aws.String("fleet"),
					Preferences: &astypes.RefreshPreferences{MinHealthyPercentage: aws.Int32(int32(minHealthy)), InstanceWarmup: aws.Int32(int32(warmup))}})
				if err != nil {
					b.Fatal(err)
				}
				low, lowUp := 3, 3
				for {
					g := group(b, a)
					ids := healthy(g)
					low = min(low, len(ids))
					up := 0
					for _, id := range ids {
						if guestUp(t, id) {
							up++
						}
					}
					lowUp = min(lowUp, up)
					rs, err := a.DescribeInstanceRefreshes(ctx, &autoscaling.DescribeInstanceRefreshesInput{AutoScalingGroupName: aws.String("fleet"),
						InstanceRefreshIds: []string{aws.ToString(ref.InstanceRefreshId)}})
					if err != nil {
						b.Fatal(err)
					}
					if s := rs.InstanceRefreshes[0].Status; s == astypes.InstanceRefreshStatusSuccessful {
						break
					} else if s != astypes.InstanceRefreshStatusPending && s != astypes.InstanceRefreshStatusInProgress {
						b.Fatalf("refresh %d ended %s: %s", k, s, aws.ToString(rs.InstanceRefreshes[0].StatusReason))
					}
					if time.Since(t0) > 20*time.Minute {
						b.Fatalf("refresh %d not done after 20 minutes", k)
					}
					time.Sleep(100 * time.Millisecond)
				}
				walls = append(walls, time.Since(t0).Seconds())
				ids := waitInService(b, a, 3)
				waitGuests(b, t, ids, t0)
				booted = append(booted, time.Since(t0).Seconds())
				fewest, fewestUp = min(fewest, low), min(fewestUp, lowUp)
			}
			slices.Sort(walls)
			slices.Sort(booted)
			fmt.Fprintf(&report, "| %d | %.1f (%.1f–%.1f) | %.1f (%.1f–%.1f) | %d | %d |\n", warmup, median(walls), walls[0], walls[len(walls)-1],
				median(booted), booted[0], booted[len(booted)-1], fewest, fewestUp)
			b.ReportMetric(median(walls), fmt.Sprintf("refresh-warmup%d-s", warmup))
		}
		hwm := procStatusKB(strconv.Itoa(t.pid), "VmHWM")
		fmt.Fprintf(&report, "\nServer peak RSS %.1f MB over the whole run (ingest, fill, every refresh).\n", float64(hwm)/1024)
	}
	fmt.Printf("\n%s\n%s", info, report.String())
	if path := os.Getenv("BENCH_REFRESH_MARKDOWN"); path != "" {
		if err := os.WriteFile(path, []byte(info+"\n"+report.String()), 0o644); err != nil {
			b.Error(err)
		}
	}
}

// group returns the benchmark's Auto Scaling group.
func group(b *testing.B, a *autoscaling.Client) astypes.AutoScalingGroup {
	b.Helper()
	out, err := a.DescribeAutoScalingGroups(context.Background(), &autoscaling.DescribeAutoScalingGroupsInput{AutoScalingGroupNames: []string{"fleet"}})
	if err != nil || len(out.AutoScalingGroups) != 1 {
		b.Fatalf("DescribeAutoScalingGroups: %+v, %v", out, err)
	}
	return out.AutoScalingGroups[0]
}

// healthy returns the ids of g's instances InService and Healthy.
func healthy(g astypes.AutoScalingGroup) []string {
	var ids []string
	for _, i := range g.Instances {
		if i.LifecycleState == astypes.LifecycleStateInService && aws.ToString(i.HealthStatus) == "Healthy" {
			ids = append(ids, aws.ToString(i.InstanceId))
		}
	}
	return ids
}

// waitInService polls the group every 100 ms until it has n instances,
// all InService and Healthy, and returns their ids.
func waitInService(b *testing.B, a *autoscaling.Client, n int) []string {
	b.Helper()
	deadline := time.Now().Add(20 * time.Minute)
	for time.Now().Before(deadline) {
		g := group(b, a)
		if ids := healthy(g); len(ids) == n && len(g.Instances) == n {
			return ids
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.Fatalf("the group did not have %d in service within 20 minutes", n)
	return nil
}

// guestUp reports whether the instance's console shows `init done`.
func guestUp(t *target, id string) bool {
	data, _ := os.ReadFile(filepath.Join(t.dataDir, "vms", id, "console.log"))
	return strings.Contains(string(data), "openami-testimage: init done")
}

// waitGuests waits until each instance's console shows `init done`.
func waitGuests(b *testing.B, t *target, ids []string, t0 time.Time) {
	b.Helper()
	for _, id := range ids {
		waitMarkers(b, filepath.Join(t.dataDir, "vms", id, "console.log"), t0, nil)
	}
}
