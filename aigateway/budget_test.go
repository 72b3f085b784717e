package aigateway_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// pricedModel costs one dollar a token, so that budgets are easy to reason
// about: a request's reserved maximum is its prompt bound (a token per body
// byte) plus its max_tokens, in dollars.
const pricedModel = `		model priced mock mock-gpt {
			input_price 1000000
			output_price 1000000
		}
		provider pausing openai_compatible {
			base_url MOCKURL/v1
			api_key ` + providerKey + `
			header X-Mock-Chunk-Delay 50ms
		}
		model priced-slow pausing mock-gpt {
			input_price 1000000
			output_price 1000000
		}`

const budgetBody = `{"model":"priced","max_tokens":10,"messages":[{"role":"user","content":"say hello to the test"}]}`

// reservedMax is what admission reserves for budgetBody, in dollars.
var reservedMax = float64(len(budgetBody) + 10)

type spent struct {
	Spend *struct {
		SpentUSD    float64 `json:"spent_usd"`
		ReservedUSD float64 `json:"reserved_usd"`
	} `json:"spend"`
}

// hammer sends n requests at once with the given keys (round robin) and
// counts the answers by status; any other answer than 200 or 429
// insufficient_quota fails the test.
func hammer(t *testing.T, e *env, n int, keys []string, body string) (ok, refused int) {
	t.Helper()
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(key string) {
			defer wg.Done()
			<-start
			req, _ := http.NewRequest("POST", gatewayURL+"/v1/chat/completions", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+key)
			resp, err := e.client.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			b := make([]byte, 4096)
			m, _ := resp.Body.Read(b)
			resp.Body.Close()
			mu.Lock()
			defer mu.Unlock()
			switch {
			case resp.StatusCode == 200:
				ok++
			case resp.StatusCode == 429 && strings.Contains(string(b[:m]), `"code":"insufficient_quota"`) && resp.Header.Get("Retry-After") != "":
				refused++
			default:
				t.Errorf("unexpected answer %d: %s", resp.StatusCode, b[:m])
			}
		}(keys[i%len(keys)])
	}
	close(start)
	wg.Wait()
	return ok, refused
}

// TestBudgetHoldsUnderConcurrency: 200 simultaneous requests against a key
// with a small USD budget; settled spend exceeds the budget by no more than
// one request's reserved maximum, and every refusal is 429
// insufficient_quota. Then the same for a team budget shared by three keys.
func TestBudgetHoldsUnderConcurrency(t *testing.T) {
	e := newEnv(t)
	e.load(strings.ReplaceAll(pricedModel, "MOCKURL", e.mockURL))
	const budget = 300.0

	k := e.createKey(map[string]any{"name": "budgeted", "limits": map[string]any{"budget_usd": budget, "budget_period": "monthly"}})
	ok, refused := hammer(t, e, 200, []string{k.Key}, budgetBody)
	var s spent
	e.admin("GET", "/ai_gateway/keys/"+k.ID, nil, 200, &s)
	if s.Spend == nil {
		t.Fatal("the key record shows no spend")
	}
	t.Logf("key: %d answered, %d refused, spent $%.0f of $%.0f (a request reserves $%.0f)", ok, refused, s.Spend.SpentUSD, budget, reservedMax)
	if ok == 0 || refused == 0 || ok+refused != 200 {
		t.Fatalf("%d answered, %d refused: the budget did not bite or nothing passed", ok, refused)
	}
	if s.Spend.SpentUSD > budget+reservedMax || s.Spend.ReservedUSD != 0 {
		t.Fatalf("spent $%v (reserved $%v) against a $%v budget", s.Spend.SpentUSD, s.Spend.ReservedUSD, budget)
	}
	if s.Spend.SpentUSD < float64(ok) {
		t.Fatalf("spent $%v for %d answers: requests were not charged", s.Spend.SpentUSD, ok)
	}

	// A team budget shared by three keys, each with no budget of its own.
	var team struct {
		ID string `json:"id"`
	}
	e.admin("POST", "/ai_gateway/teams", map[string]any{"name": "search", "limits": map[string]any{"budget_usd": budget}}, 201, &team)
	var keys []string
	for i := 0; i < 3; i++ {
		keys = append(keys, e.createKey(map[string]any{"name": fmt.Sprint("member-", i), "team": team.ID}).Key)
	}
	ok, refused = hammer(t, e, 200, keys, budgetBody)
	var ts spent
	e.admin("GET", "/ai_gateway/teams/"+team.ID, nil, 200, &ts)
	t.Logf("team: %d answered, %d refused, spent $%.0f of $%.0f", ok, refused, ts.Spend.SpentUSD, budget)
	if ok == 0 || refused == 0 || ts.Spend.SpentUSD > budget+reservedMax || ts.Spend.SpentUSD < float64(ok) {
		t.Fatalf("team budget: %d answered, %d refused, spent $%v", ok, refused, ts.Spend.SpentUSD)
	}
}

// TestBudgetChargesStreamsCutOff: streams cut off by the client are charged
// for what was streamed (never zero), and the budget still holds.
func TestBudgetChargesStreamsCutOff(t *testing.T) {
	e := newEnv(t)
	e.load(strings.ReplaceAll(pricedModel, "MOCKURL", e.mockURL))
	const budget = 400.0
	k := e.createKey(map[string]any{"name": "cut-streams", "limits": map[string]any{"budget_usd": budget}})
	body := strings.Replace(strings.Replace(budgetBody, `"priced"`, `"priced-slow"`, 1), `"max_tokens":10,`, `"max_tokens":10,"stream":true,`, 1)

	var wg sync.WaitGroup
	var mu sync.Mutex
	cut, refused := 0, 0
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "POST", gatewayURL+"/v1/chat/completions", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+k.Key)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			mu.Lock()
			defer mu.Unlock()
			if resp.StatusCode == 429 {
				refused++
				return
			}
			// Read two events, then hang up.
			rd := bufio.NewReader(resp.Body)
			for n := 0; n < 2; {
				line, err := rd.ReadString('\n')
				if err != nil {
					return
				}
				if strings.HasPrefix(line, "data: ") {
					n++
				}
			}
			cut++
		}()
	}
	wg.Wait()
	rep := e.usageOf("key_id="+k.ID, func(r usageReport) bool { return r.requests() >= int64(cut+refused) })
	var s spent
	e.admin("GET", "/ai_gateway/keys/"+k.ID, nil, 200, &s)
	t.Logf("%d cut off, %d refused, spent $%.0f of $%.0f", cut, refused, s.Spend.SpentUSD, budget)
	if cut == 0 || s.Spend.SpentUSD > budget+reservedMax || s.Spend.ReservedUSD != 0 {
		t.Fatalf("cut %d, spent $%v reserved $%v", cut, s.Spend.SpentUSD, s.Spend.ReservedUSD)
	}
	// Each cut-off stream is charged at least its prompt estimate.
	if s.Spend.SpentUSD < float64(cut)*float64(len(body)/4) {
		t.Fatalf("cut-off streams charged $%v for %d streams: undercounted", s.Spend.SpentUSD, cut)
	}
	_ = rep
}
