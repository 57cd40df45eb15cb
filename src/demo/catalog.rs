//! What the demo school sells: three Hotmart products, each with its
//! members area (Club) of modules and lessons, as Hotmart describes them.

/// One product of the demo school.
pub struct DemoProduct {
    /// Hotmart's product id (fictitious).
    pub hotmart_id: u64,
    pub ucode: &'static str,
    pub name: &'static str,
    /// The offer every buyer takes.
    pub offer: &'static str,
    /// Price in reais, as the postback's `price.value`.
    pub price: f64,
    /// Most card installments offered.
    pub installments: u32,
    /// A monthly subscription (renewals and cancellations) rather than a
    /// one-off purchase.
    pub subscription_plan: Option<&'static str>,
    /// The members area's subdomain at Hotmart.
    pub club_subdomain: &'static str,
    /// Share of the school's buyers, in percent.
    pub weight: u32,
    pub modules: &'static [DemoModule],
}

pub struct DemoModule {
    pub name: &'static str,
    pub lessons: &'static [&'static str],
}

impl DemoProduct {
    /// The Club id of module `index` (0-based), as both the Club API and
    /// CLUB_MODULE_COMPLETED name it.
    pub fn module_id(&self, index: usize) -> String {
        format!("{}m{:02}", self.club_subdomain, index + 1)
    }

    /// The Club page id of a lesson.
    pub fn page_id(&self, module: usize, lesson: usize) -> String {
        format!("{}p{:02}{:02}", self.club_subdomain, module + 1, lesson + 1)
    }
}

pub const PRODUCTS: [DemoProduct; 3] = [
    DemoProduct {
        hotmart_id: 4_810_271,
        ucode: "5d0c7a52-6f1e-4f0a-9c55-0a1b2c3d4e01",
        name: "Confeitaria Lucrativa",
        offer: "cfl497",
        price: 497.0,
        installments: 12,
        subscription_plan: None,
        club_subdomain: "confeitarialucrativa",
        weight: 45,
        modules: &[
            DemoModule {
                name: "Boas-vindas e organização da cozinha",
                lessons: &[
                    "Como aproveitar o curso",
                    "Utensílios essenciais",
                    "Montando seu espaço de produção",
                ],
            },
            DemoModule {
                name: "Massas e bolos base",
                lessons: &[
                    "Pão de ló perfeito",
                    "Massa amanteigada",
                    "Bolo de chocolate molhadinho",
                    "Erros comuns e como evitar",
                ],
            },
            DemoModule {
                name: "Recheios e coberturas",
                lessons: &[
                    "Brigadeiro gourmet",
                    "Ganache e suas proporções",
                    "Chantininho estável",
                    "Recheios de frutas",
                ],
            },
            DemoModule {
                name: "Decoração que vende",
                lessons: &[
                    "Bico de confeitar na prática",
                    "Acabamento liso",
                    "Fotos para o Instagram",
                ],
            },
            DemoModule {
                name: "Precificação e vendas",
                lessons: &[
                    "Quanto cobrar pelo seu bolo",
                    "Encomendas pelo WhatsApp",
                    "Datas que mais vendem",
                ],
            },
        ],
    },
    DemoProduct {
        hotmart_id: 4_810_384,
        ucode: "5d0c7a52-6f1e-4f0a-9c55-0a1b2c3d4e02",
        name: "Inglês Fluente em 6 Meses",
        offer: "ing997",
        price: 997.0,
        installments: 12,
        subscription_plan: None,
        club_subdomain: "inglesfluente",
        weight: 35,
        modules: &[
            DemoModule {
                name: "Primeiros passos",
                lessons: &[
                    "Seu plano de estudos",
                    "Pronúncia: os sons que o brasileiro erra",
                    "Frases para o dia a dia",
                ],
            },
            DemoModule {
                name: "Conversação básica",
                lessons: &[
                    "Apresentações",
                    "No restaurante",
                    "Pedindo informações",
                    "Small talk",
                ],
            },
            DemoModule {
                name: "Gramática sem decoreba",
                lessons: &[
                    "Present simple e continuous",
                    "Past simple",
                    "Phrasal verbs mais usados",
                    "Futuro com will e going to",
                ],
            },
            DemoModule {
                name: "Listening com séries",
                lessons: &[
                    "Como assistir sem legenda",
                    "Friends: episódio comentado",
                    "Podcasts para iniciantes",
                ],
            },
            DemoModule {
                name: "Inglês para o trabalho",
                lessons: &[
                    "E-mails profissionais",
                    "Reuniões online",
                    "Entrevista de emprego",
                ],
            },
            DemoModule {
                name: "Fluência na prática",
                lessons: &[
                    "Pensando em inglês",
                    "Desafio de 30 dias",
                    "Próximos passos",
                ],
            },
        ],
    },
    DemoProduct {
        hotmart_id: 4_810_455,
        ucode: "5d0c7a52-6f1e-4f0a-9c55-0a1b2c3d4e03",
        name: "Clube do Investidor Iniciante",
        offer: "cii049",
        price: 49.9,
        installments: 1,
        subscription_plan: Some("Plano Mensal"),
        club_subdomain: "clubedoinvestidor",
        weight: 20,
        modules: &[
            DemoModule {
                name: "Organizando as finanças",
                lessons: &[
                    "Diagnóstico do seu orçamento",
                    "Reserva de emergência",
                    "Saindo das dívidas",
                ],
            },
            DemoModule {
                name: "Renda fixa",
                lessons: &["Tesouro Direto", "CDB, LCI e LCA", "Como comparar taxas"],
            },
            DemoModule {
                name: "Renda variável",
                lessons: &[
                    "Ações para iniciantes",
                    "Fundos imobiliários",
                    "Montando sua carteira",
                ],
            },
            DemoModule {
                name: "Análise do mês",
                lessons: &["Cenário econômico", "Carteira comentada"],
            },
        ],
    },
];
