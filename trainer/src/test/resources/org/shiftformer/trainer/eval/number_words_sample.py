# Reference BLEU/chrF written from sacreBLEU 2.x sources (metrics/bleu.py, metrics/chrf.py, metrics/helpers.py,
# tokenizers/tokenizer_13a.py), used to pin the Java implementation's scores on number-word data.
# Usage: python3 number_words_sample.py number-words-sample.tsv  (writes the sample, prints BLEU, chrF2, exact)
import math, random, re, sys
from collections import Counter
R=[(re.compile(r'([\{-\~\[-\` -\&\(-\+\:-\@\/])'), r' \1 '),(re.compile(r'([^0-9])([\.,])'), r'\1 \2 '),
   (re.compile(r'([\.,])([^0-9])'), r' \1 \2'),(re.compile(r'([0-9])(-)'), r'\1 \2 ')]
def tok(line):
    line=line.replace('<skipped>','').replace('-\n','').replace('\n',' ').replace('&quot;','"').replace('&amp;','&').replace('&lt;','<').replace('&gt;','>')
    line=" {} ".format(line)
    for r,s in R: line=r.sub(s,line)
    return ' '.join(line.strip().split())
def ngrams(line):
    t=line.split(); c=Counter()
    for n in range(1,5):
        for i in range(len(t)-n+1): c[tuple(t[i:i+n])]+=1
    return c,len(t)
def bleu(hyps, refs):
    correct=[0]*4; total=[0]*4; sl=rl=0
    for h,r in zip(hyps,refs):
        h=tok(h.rstrip()); r=tok(r.rstrip())
        hn,hl=ngrams(h); rn,rlen=ngrams(r)
        sl+=hl; rl+=rlen
        for g,c in hn.items():
            total[len(g)-1]+=c
            if g in rn: correct[len(g)-1]+=min(c,rn[g])
    bp = math.exp(1-rl/sl) if sl<rl else 1.0
    if not any(correct): return 0.0
    p=[0.0]*4; sm=1.0
    for n in range(1,5):
        if total[n-1]==0: break
        if correct[n-1]==0:
            sm*=2; p[n-1]=100./(sm*total[n-1])
        else: p[n-1]=100.*correct[n-1]/total[n-1]
    return bp*math.exp(sum((-9999999999 if x==0 else math.log(x)) for x in p)/4)
def chrf(hyps, refs, order=6, beta=2):
    stats=[0]*(3*order)
    for h,r in zip(hyps,refs):
        h=''.join(h.split()); r=''.join(r.split())
        for n in range(1,order+1):
            hc=Counter(h[i:i+n] for i in range(len(h)-n+1)); rc=Counter(r[i:i+n] for i in range(len(r)-n+1))
            m=sum(min(c,rc[g]) for g,c in hc.items() if g in rc)
            stats[3*(n-1)]+= sum(hc.values()) if rc else 0
            stats[3*(n-1)+1]+=sum(rc.values()); stats[3*(n-1)+2]+=m
    f=beta**2; ap=ar=0.0; eff=0
    for i in range(order):
        nh,nr,nm=stats[3*i:3*i+3]
        if nh>0 and nr>0: ap+=nm/nh; ar+=nm/nr; eff+=1
    if eff==0: return 0.0
    ap/=eff; ar/=eff
    if ap+ar==0: return 0.0
    return 100*(1+f)*ap*ar/(f*ap+ar)
U="zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split()
T="- - twenty thirty forty fifty sixty seventy eighty ninety".split()
def b1000(n):
    s=[]
    if n>=100: s.append(U[n//100]+" hundred")
    r=n%100
    if r:
        s.append(U[r] if r<20 else T[r//10]+("-"+U[r%10] if r%10 else ""))
    return " ".join(s)
def en(n):
    if n==0: return "zero"
    s=[]
    if n>=1000: s.append(b1000(n//1000)+" thousand")
    if n%1000: s.append(b1000(n%1000))
    return " ".join(s)
rnd=random.Random(2026)
hyps=[];refs=[]
for i in range(300):
    n=rnd.randrange(1000,1000000); ref=en(n); k=rnd.random()
    if k<0.5: hyp=ref
    elif k<0.7: hyp=en(n//10*10+rnd.randrange(10))            # wrong unit
    elif k<0.8: hyp=en(rnd.randrange(1000,1000000))           # unrelated number
    elif k<0.9: w=ref.split(); hyp=" ".join(w[:max(1,len(w)-2)])  # truncated
    else: hyp=ref+" "+rnd.choice(U)+"."                        # extra word and period
    hyps.append(hyp); refs.append(ref)
with open(sys.argv[1],'w') as f:
    for h,r in zip(hyps,refs): f.write(h+"\t"+r+"\n")
print(repr(bleu(hyps,refs)), repr(chrf(hyps,refs)), sum(h==r for h,r in zip(hyps,refs)))
