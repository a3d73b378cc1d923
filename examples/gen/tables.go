package gen

// district is one of Shanghai's 16 districts.
type district struct {
	name   string  // pinyin, as in the manifests' domains
	code   string  // administrative division code (GB/T 2260)
	abbr   string  // the character real-estate certificates use
	firms  float64 // relative share of registered firms
	people float64 // resident population, 10 000s (2020 census, rounded)
}

var districts = []district{
	{"huangpu", "310101", "黄", 4, 66},
	{"xuhui", "310104", "徐", 5, 111},
	{"changning", "310105", "长", 4, 69},
	{"jingan", "310106", "静", 5, 98},
	{"putuo", "310107", "普", 4, 124},
	{"hongkou", "310109", "虹", 3, 76},
	{"yangpu", "310110", "杨", 4, 124},
	{"minhang", "310112", "闵", 9, 265},
	{"baoshan", "310113", "宝", 7, 224},
	{"jiading", "310114", "嘉", 9, 183},
	{"pudong", "310115", "浦", 18, 568},
	{"jinshan", "310116", "金", 4, 82},
	{"songjiang", "310117", "松", 7, 191},
	{"qingpu", "310118", "青", 6, 127},
	{"fengxian", "310120", "奉", 7, 114},
	{"chongming", "310151", "崇", 4, 64},
}

// industry is a section of the national-economy industry classification
// (GB/T 4754-2017).
type industry struct {
	section string
	weight  float64 // relative share of firms
	word    string  // the business word in a firm's name
	tax     float64 // log multiplier of tax paid
	elec    float64 // log multiplier of electricity use
}

var industries = []industry{
	{"A", 1, "农业发展", -0.5, 0.3},      // agriculture, forestry, animal husbandry, fishery
	{"B", 0.1, "矿业", 0.5, 1.2},       // mining
	{"C", 8, "机械制造", 0.3, 1.6},       // manufacturing
	{"D", 0.5, "能源", 0.8, 1.0},       // electricity, heat, gas and water supply
	{"E", 5, "建设工程", 0.1, 0.2},       // construction
	{"F", 28, "贸易", 0.2, 0},          // wholesale and retail
	{"G", 4, "物流", 0, 0.4},           // transport, storage and post
	{"H", 3, "餐饮管理", -0.4, 0.8},      // accommodation and catering
	{"I", 9, "信息科技", 0.2, 0.3},       // information technology
	{"J", 2, "投资管理", 1.0, 0},         // finance
	{"K", 3, "房地产开发", 1.2, 0.2},      // real estate
	{"L", 17, "企业管理咨询", 0, -0.3},     // leasing and business services
	{"M", 12, "科技发展", 0, 0},          // scientific research and technical services
	{"N", 1, "环境工程", -0.3, 0.2},      // water conservancy, environment, public facilities
	{"O", 2, "家政服务", -0.5, -0.2},     // resident services and repairs
	{"P", 1, "教育科技", -0.3, 0},        // education
	{"Q", 0.5, "医疗管理", -0.2, 0.4},    // health and social work
	{"R", 2, "文化传媒", -0.2, 0},        // culture, sports and entertainment
	{"S", 0.5, "公共事务服务", -0.5, -0.2}, // public management and social organisations
	{"T", 0.1, "国际事务咨询", -1, -0.5},   // international organisations
}

// nameWords are the characters firm names are made of.
var nameWords = []string{
	"华", "信", "达", "安", "盛", "丰", "恒", "泰", "瑞", "祥", "鑫", "源", "博", "创", "智", "联", "宏", "远", "金", "通",
	"汇", "德", "诚", "富", "新", "锦", "荣", "美", "佳", "嘉", "天", "启", "致", "和", "合", "鼎", "银", "星", "辉", "海",
}

// surnames are common Chinese surnames with their relative frequency.
var surnames = []weighted{
	{"王", 7.2}, {"李", 7.2}, {"张", 6.8}, {"刘", 5.3}, {"陈", 4.5}, {"杨", 3.1}, {"黄", 2.2}, {"赵", 2.2},
	{"吴", 2.0}, {"周", 1.9}, {"徐", 1.7}, {"孙", 1.5}, {"马", 1.5}, {"朱", 1.4}, {"胡", 1.3}, {"郭", 1.2},
	{"何", 1.2}, {"高", 1.1}, {"林", 1.1}, {"罗", 1.0}, {"沈", 0.8}, {"顾", 0.6}, {"陆", 0.6}, {"蒋", 0.5},
	{"钱", 0.4}, {"汪", 0.4}, {"唐", 0.6}, {"许", 0.6}, {"曹", 0.5}, {"姚", 0.4},
}

// givenNames are characters given names are made of.
var givenNames = []string{
	"伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超", "秀", "霞", "平",
	"刚", "桂", "英", "华", "玉", "萍", "红", "建", "文", "辉", "力", "慧", "佳", "宇", "浩", "婷", "欣", "晨", "怡", "雪",
}

// ageDecades is the relative share of residents aged 0–9, 10–19, … 90–99.
var ageDecades = []float64{7, 7, 11, 18, 15, 15, 15, 8, 3.5, 0.5}

// Diagnosis mixes (ICD-10 chapter letters) of acute visits, by patient group.
var (
	diagChild = []weighted{
		{"J", 40}, {"A", 10}, {"B", 5}, {"H", 8}, {"L", 7}, {"S", 10}, {"K", 6}, {"R", 7}, {"Z", 5}, {"P", 1}, {"Q", 1},
	}
	diagYoungF = []weighted{
		{"J", 17}, {"K", 10}, {"M", 9}, {"N", 8}, {"O", 9}, {"Z", 8}, {"R", 7}, {"S", 5}, {"F", 6}, {"L", 5},
		{"H", 5}, {"E", 3}, {"I", 2}, {"G", 3}, {"D", 1}, {"C", 1}, {"T", 1},
	}
	diagYoungM = []weighted{
		{"J", 19}, {"K", 11}, {"M", 11}, {"N", 4}, {"Z", 7}, {"R", 8}, {"S", 10}, {"F", 5}, {"L", 5},
		{"H", 5}, {"E", 5}, {"I", 4}, {"G", 2}, {"D", 1}, {"C", 1}, {"T", 2},
	}
	diagMid = []weighted{
		{"I", 12}, {"J", 15}, {"E", 9}, {"M", 12}, {"K", 10}, {"N", 6}, {"R", 7}, {"Z", 7}, {"H", 5}, {"S", 5},
		{"F", 3}, {"G", 3}, {"C", 3}, {"L", 3},
	}
	diagSenior = []weighted{
		{"I", 20}, {"J", 14}, {"E", 12}, {"M", 10}, {"K", 7}, {"C", 5}, {"N", 6}, {"H", 6}, {"G", 5}, {"R", 6},
		{"Z", 4}, {"S", 3}, {"F", 2},
	}
	// Chapters of chronic conditions, which bring repeated visits.
	chronicOld   = []weighted{{"I", 35}, {"E", 25}, {"C", 8}, {"M", 12}, {"N", 7}, {"J", 8}, {"F", 5}}
	chronicYoung = []weighted{{"F", 35}, {"E", 15}, {"J", 20}, {"K", 15}, {"M", 15}}
)
