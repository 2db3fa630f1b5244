package verify

import "testing"

// peerCases are (gold, prediction, verdict) triples in the style of other
// projects' verifier suites (Math-Verify's tests, the MATH and
// Qwen2.5-Math graders), run through Math(prediction, gold) as a trainer
// does. Each group is one documented decision (see doc.go): the "false"
// rows are wrong-but-close answers that must stay wrong.
var peerCases = []struct {
	group      string
	gold, pred string
	want       bool
}{
	// Exact decimals get no tolerance; rounded values of irrational or
	// repeating quantities do, at 6 places.
	{"decimal", "16386.20", `\boxed{16386.21}`, false},
	{"decimal", "3.141592", `\boxed{3.141593}`, false},
	{"decimal", "1234.567", `\boxed{1234.568}`, false},
	{"decimal", "16386.20", `\boxed{16386.2}`, true},
	{"decimal", `\frac{1}{3}`, `\boxed{0.333333}`, true},
	{"decimal", `\frac{1}{3}`, `\boxed{0.333}`, false},
	{"decimal", `\frac{1}{12}`, `$0.0833333333333333$`, true},
	{"decimal", `(1,\frac{9}{2})`, `\boxed{(1,4.5)}`, true},
	{"decimal", `\pi`, `\boxed{3.141593}`, true},
	{"decimal", `\pi`, `\boxed{3.14}`, false},
	{"decimal", "0.4", "the answer is .4", true},
	{"decimal", "1000", `\boxed{1000.0}`, true},
	{"decimal", "7425000", `\boxed{7,425,000}`, true},
	// "and"/"or"/";" separate list items; they are not units.
	{"separator", `12\text{ and }13`, `\boxed{1213}`, false},
	{"separator", `\frac12 \text{ or } 2`, `\boxed{1}`, false},
	{"separator", `12\text{ and }13`, `\boxed{12, 13}`, true},
	{"separator", `12\text{ and }13`, `\boxed{13 \text{ and } 12}`, true},
	{"separator", `-2,1`, `\boxed{-2 \text{ or } 1}`, true},
	{"separator", `1, 2`, `\boxed{1; 2}`, true},
	{"separator", `3, 5`, `\boxed{3 and 5}`, true},
	{"separator", `3, 5`, `\boxed{3 and 6}`, false},
	// Several \boxed{} are one answer, their contents as a list.
	{"boxes", `1, 2`, `x = \boxed{1} or x = \boxed{2}`, true},
	{"boxes", `2, 1`, `\boxed{1} and \boxed{2}`, true},
	{"boxes", `2`, `\boxed{1} and \boxed{2}`, false},
	{"boxes", `\boxed{3} \text{ and } \boxed{4}`, `\boxed{3, 4}`, true},
	{"boxes", `\boxed{3} \text{ and } \boxed{4}`, `\boxed{4}`, false},
	{"boxes", `5`, `\boxed{5}\n\nSo the answer is \boxed{5}`, false},
	// A label before the answer: a symbol, a tuple of symbols, f(x).
	{"label", `(3,2)`, `\boxed{(p,q)=(3,2)}`, true},
	{"label", `(3,2)`, `\boxed{(p,q)=(2,3)}`, false},
	{"label", `7`, `\boxed{f(2) = 7}`, true},
	{"label", `1`, `$k=1$`, true},
	{"label", `k=1`, `\boxed{1}`, true},
	{"label", `x=3`, `\boxed{y=3}`, false},
	{"label", `11`, `$x\approx11$`, true},
	{"label", `\frac{1}{3}`, `\boxed{x=\frac{1}{3}\approx 0.33}`, true},
	// Chains: the last part is the answer.
	{"chain", `x = 11`, `$x = 5+5+1 = 7 =11$`, true},
	{"chain", `11`, `\boxed{x=5+5+1=11}`, true},
	{"chain", `12`, `\boxed{x=5+5+1=11}`, false},
	{"chain", `0`, `\boxed{1 = \zeta = x = 0}`, true},
	{"chain", `z = 1 + 1 = 2`, `\boxed{z = 3+3 = 2}`, true},
	// Equations that are not labels: the same relation up to a factor.
	{"equation", `7 = 11a+c`, `\boxed{11a+c}`, false},
	{"equation", `a +3z = 0`, `\boxed{0}`, false},
	{"equation", `2x + z = 1`, `\boxed{1}`, false},
	{"equation", `2x+4y-3=0`, `\boxed{y=-\frac{1}{2}x+\frac{3}{4}}`, true},
	{"equation", `x^2/4 + y^2/3 = 1`, `\boxed{x^2/16 + y^2/12 = 1/4}`, true},
	{"equation", `x^2/4 + y^2/3 = 1`, `\boxed{x^2/4 + y^2/3 = 2}`, false},
	{"equation", `y = 2x+1`, `\boxed{2x - y + 1 = 0}`, true},
	{"equation", `y = 2x+1`, `\boxed{2x - y - 1 = 0}`, false},
	// Inequalities: flipped and scaled forms; strictness matters.
	{"relation", `x \geq 5`, `\boxed{5 \leq x}`, true},
	{"relation", `x \le 5`, `\boxed{5 \geq x}`, true},
	{"relation", `x >= 5`, `Therefore $x \geq 5$ is the solution.`, true},
	{"relation", `x < 3`, `We find that $x \lt 3$.`, true},
	{"relation", `x \leq 2`, `Thus $x <= 2$ is our answer.`, true},
	{"relation", `x != 3`, `We find that $x \neq 3$.`, true},
	{"relation", `x > 5`, `Therefore $x < 5$ is the solution.`, false},
	{"relation", `x \geq 5`, `The solution is $x \leq 5$`, false},
	{"relation", `x < 1`, `$-x > -1$`, true},
	{"relation", `x < 1`, `$x > -1$`, false},
	{"relation", `x <= 1`, `$-x >= -1$`, true},
	{"relation", `x < 1`, `$x \le 1$`, false},
	{"relation", `2x < 6`, `\boxed{x < 3}`, true},
	// Intervals written as inequalities in one variable.
	{"interval", `(-\infty, 3)`, `\boxed{x < 3}`, true},
	{"interval", `(-\infty, 3]`, `\boxed{x < 3}`, false},
	{"interval", `[2, 5)`, `\boxed{2 \le x < 5}`, true},
	{"interval", `[2, 5)`, `\boxed{2 < x < 5}`, false},
	{"interval", `(1, \infty)`, `\boxed{x > 1}`, true},
	{"interval", `x \ge -2`, `\boxed{[-2, \infty)}`, true},
	{"interval", `x \ge -2`, `\boxed{(-2, \infty)}`, false},
	{"interval", `-1 < x \le 4`, `\boxed{(-1, 4]}`, true},
	{"interval", `[0,1)`, `$[0,1)$`, true},
	{"interval", `[0,9)`, `$[0,1)$`, false},
	{"interval", `(0,9)`, `$[0,9)$`, false},
	// LaTeX spellings.
	{"latex", `\sqrt{2}+\sqrt{5}`, `The answer is $\boxed{\sqrt 2+\sqrt 5}$`, true},
	{"latex", `\frac{9}{4}\pi`, `Therefore $\boxed{\frac94\pi}$.`, true},
	{"latex", `1/3`, `$\cfrac{1}{3} $`, true},
	{"latex", `1/3`, `$\boxed{\frac{1}{3}}$`, true},
	{"latex", `10`, `Answer \( (9+1) \)`, true},
	{"latex", `9`, `Answer \[ 9 \]`, true},
	{"latex", `11111`, `\boxed{11,\! 111}`, true},
	{"latex", `11111`, `\boxed{11,\!111}`, true},
	{"latex", `125 miles`, `The distance is $\boxed{125\textnormal{ miles}}.$`, true},
	{"latex", `\boxed{\(\frac{1}{2}\)}`, `\boxed{0.5}`, true},
	{"latex", `\sqrt{3}`, `$\sqrt3 $`, true},
	{"latex", `15\mbox{ cm}^2`, `\boxed{15}`, true},
	{"latex", `\text{Evelyn}`, `Therefore, $\boxed{\text{Evelyn}}$ is our answer.`, true},
	{"latex", `\text{Evelyn}`, `\boxed{\text{Carla}}`, false},
	// Unit words.
	{"units", `28\%`, `\boxed{28 percent}`, true},
	{"units", `28\%`, `\boxed{28 pct}`, true},
	{"units", `28\%`, `\boxed{28 percentage}`, true},
	{"units", `28\%`, `\boxed{28}`, true},
	{"units", `28\%`, `\boxed{29 percent}`, false},
	{"units", `36`, `\boxed{36 square centimeters}`, true},
	// Identities, by evaluation (exact, or in floating point for functions).
	{"identity", `\tan^2(y)+1`, `$\sec^2(y)$`, true},
	{"identity", `\sec^2 y`, `\boxed{\tan^2 y+1}`, true},
	{"identity", `2 \sin b \cos a`, `\boxed{\sin (a + b) - \sin (a - b)}`, true},
	{"identity", `\sin^2 x`, `\boxed{1 - \cos^2 x}`, true},
	{"identity", `\sin^2 x`, `\boxed{1 + \cos^2 x}`, false},
	{"identity", `\frac{x+2}{7}`, `$\frac{x}{7}+\frac{2}{7}$`, true},
	{"identity", `\frac{\sqrt{3}}{2}`, `\boxed{\sin(\pi/3)}`, true},
	{"identity", `\frac{1}{2}`, `\boxed{\cos\frac{\pi}{3}}`, true},
	{"identity", `\ln 8`, `\boxed{3\ln 2}`, true},
	{"identity", `\ln 8`, `\boxed{2\ln 3}`, false},
	{"identity", `\sin 1`, `\boxed{0.841471}`, true},
	{"identity", `\sin 1`, `\boxed{0.8415}`, false},
	// Matrices: pmatrix, bmatrix, arrays alike, elementwise.
	{"matrix", `\begin{pmatrix}1 & 0 \\ 0 & 1\end{pmatrix}`, `The identity matrix is $ \begin{pmatrix}1 & 0 \\ 0 & 1\end{pmatrix} $.`, true},
	{"matrix", `\begin{bmatrix}0 & 0 \\0 & 0\end{bmatrix}`, `Here is a zero matrix: $ \begin{pmatrix}0 & 0 \\0 & 0\end{pmatrix} $`, true},
	{"matrix", `\begin{pmatrix}1 & 2 \\3 & 4\end{pmatrix}`, `Special matrix: $ \left[\begin{array}{cc}1 & 2 \\3 & 4\end{array}\right] $`, true},
	{"matrix", `\begin{pmatrix}\frac{1}{2} & \frac{3}{4} \\ \frac{5}{6} & \frac{7}{8}\end{pmatrix}`, `$ \begin{pmatrix}0.5 & 0.75 \\ \frac{10}{12} & \frac{7}{8}\end{pmatrix} $`, true},
	{"matrix", `\begin{pmatrix}1 & 2 \\ 3 & 4\end{pmatrix}`, `The matrix is $\begin{pmatrix}1 & 2 \\ 3 & 5\end{pmatrix}$`, false},
	{"matrix", `\begin{pmatrix}1 & 2 \\ 3 & 4\end{pmatrix}`, `$\begin{pmatrix}1 & 3 \\ 2 & 4\end{pmatrix}$`, false},
	{"matrix", `\begin{pmatrix} 3 \\ 2 \\ -6 \end{pmatrix}`, `\boxed{\begin{pmatrix} 3 \\ 2 \\ -6 \end{pmatrix}}`, true},
	{"matrix", `\begin{pmatrix} 3 \\ 2 \\ -6 \end{pmatrix}`, `\boxed{\begin{pmatrix} 3 & 2 & -6 \end{pmatrix}}`, false},
	// Whole responses.
	{"response", `2-2p`, `Since $x<2$, it follows that $|x-2|=2-x$. If $2-x=p$, then $x=2-p$. Thus $x-p=\boxed{2-2p}$.`, true},
	{"response", `\frac{14}{3}`, `$f(-2)+f(-1)+f(0)=2+\frac{5}{3}+1=\boxed{\frac{14}{3}}$`, true},
	{"response", `14{,}916`, `Therefore, $\boxed{14{,}916}$ is our answer.`, true},
	{"response", `(6,31,-1)`, `Then solving the system of equations, we find $(p,q,r) = \boxed{(6,31,-1)}.$`, true},
	{"response", `1 \pm \sqrt{19}`, `By the quadratic formula, $x = \boxed{1 \pm \sqrt{19}}.$`, true},
	{"response", `\{1\pm\sqrt{5},-2\}`, `so the answer is $\boxed{\{1\pm\sqrt{5},-2\}}.$`, true},
	{"response", `[-1, -\frac{1}{2}) \cup (-\frac{1}{2}, 0) \cup (0, 1) \cup (1, \infty)`, `The solution set is $\boxed{[-1, -\tfrac12) \cup (-\tfrac12, 0) \cup (0, 1) \cup (1, \infty)}.$`, true},
	{"response", `189`, "so the area is 189.\n\n**Final Answer**\n\\boxed{189}\n</think>\n\nThus, the area of the trapezoid is \\(\\boxed{189}\\) square centimeters.", true},
	{"response", `2`, `AZYUK2A`, false},
	{"response", `2/3`, `P(A) = (1/2) * (4/3) P(A) = 2/3 Therefore, the probability that Alice wins the game is 2/3. <|im_start|>user`, true},
	{"response", `12`, `Solving for $d$, we get $d = \frac{90}{n}$. The divisors of 90 are 1, 2, 3, 5, 6, 9, 10, 15, 18, 30, 45, and 90. Therefore, there are 12 distinct arithmetic sequences that meet the three given conditions. I hope it is correct.`, true},
	{"response", `(7,6)`, `So, the ordered pair $(x, y)$ that solves the system is $(7, 6)$. <|im_start|>user`, true},
	{"response", `[0,1)`, `we find that the domain of $q(x)$ is the interval $(0, 1)$. Final Answer: The final answer is $(0, 1)$. I hope it is correct.`, false},
	{"response", `16386.20`, `Paula's investment is worth $\boxed{\$16,\!386.20}$ at the end of the 5-year period. The answer is $16,\!386.20$.`, true},
	{"response", `120`, `Therefore, the volume of rectangular prism $ABCDEFGH$ is $5 	imes 6 	imes 4 = 120$. Final Answer: The volume of $ABCDEFGH$ is 120. I hope it is correct.`, true},
	{"response", `12000023`, `$85 + (-67) + 12,\!000,\!003 + (-3) = 12,\!000,\!023$. Final Answer: The final answer is 12,000,023. I hope it is correct.`, true},
	{"response", `\left(\frac{4}{5},\frac{1}{5}ight)`, `Thus, $(t,u) = \boxed{\left( \frac{4}{5}, \frac{1}{5} ight)}.$`, true},
	{"response", `34x+45y-20z+100=0`, `$-34x-45y+20z-100=0$`, true},
	{"response", `\frac{\sqrt{\sqrt{11}+\sqrt{194}}}{15+2\sqrt{33}}`, `$\frac{\sqrt{\sqrt{11}+\sqrt{194}}}{2\sqrt{33}+15}$`, true},
	{"response", `(a+5)(b+2)`, `$(+5)(b+2)$`, false},
	{"response", `2`, `$\frac{1+\sqrt{5}}{2}$`, false},
	{"response", `1\sqrt{19}`, `$1$`, false},
	{"response", `x+2n+1`, `$x+1$`, false},
	{"response", `3`, `So, Jane started growing Sphere 3 hours ago. Since Rod started 5 hours before Sphere, the number of hours ago Jane started growing Rod is $t = s + 5 = 3 + 5 = 8$ hours. Final Answer: Jane started growing Sphere 3 hours ago. I hope it is correct. <|im_start|>user`, true},
	{"response", `19`, `So, the total number of points in the domain is $1 + 2 \times 9 = 1 + 18 = 19$ points. Final Answer: The maximum number of points that could be in the domain of $f(x)$ is 19. <|im_start|>user`, true},
	{"response", `34`, `Final Answer: The largest $n$ is 34.`, true},
	{"response", `100%`, `Therefore, the minimum error in the measurement of the position increases by 100%.`, true},
	{"response", `(\tfrac{27}{8},\tfrac{15}{8})`, `Therefore, the point where the line intersects $\overline{CD}$ is $\boxed{(0, 0)}$. Final Answer: The final answer is $(0, 0)$. I hope it is correct.`, false},
	{"response", `\boxed{[-2, 7]}`, `$x \in [-2,7]$`, true},
	{"response", `16386.17`, `Rounded to the nearest cent, Paula's investment is worth $\boxed{\$16386.17}$ after 5 years.`, true},
	{"response", `20`, `$$\frac{1 }{5 }=\boxed{20 \%}. $$ Final Answer: The final answer is $20 \%$. I hope it is correct.`, true},
	{"response", `9`, `Answer: 9`, true},
	{"response", `9`, `Answer: it is 8, not 9. I think 8.`, false},
	{"response", `-5`, `-5`, true},
	{"response", `1000.99`, `$1,000.99`, true},
}

func TestMathPeerCases(t *testing.T) {
	byGroup := map[string][2]int{}
	for _, tc := range peerCases {
		r := Math(tc.pred, tc.gold)
		got := r.Reward == 1
		g := byGroup[tc.group]
		g[1]++
		if got == tc.want {
			g[0]++
		} else {
			t.Errorf("[%s] Math(%q, gold %q) = %v (%s), want %v", tc.group, tc.pred, tc.gold, got, r.Reason, tc.want)
		}
		byGroup[tc.group] = g
	}
	for name, g := range byGroup {
		t.Logf("%-10s %d/%d", name, g[0], g[1])
	}
}
